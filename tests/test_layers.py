"""Package layering: each package of src/tenure imports only the packages before it in LAYERS.

Every `tenure.*` import counts, at module level, inside functions and under TYPE_CHECKING alike.
`tenure.errors` sits below everything (so anything may import it and it imports nothing of
tenure); `tenure/__init__.py` is exempt (it re-exports the Python API).
"""

from __future__ import annotations

import ast
from pathlib import Path

import tenure

LAYERS = (
    "errors",
    "data",
    "engine",
    "metrics",
    "models",
    "text",
    "sources",
    "app",
    "workspace",
    "demo",
    "web",
    "api",
    "cli",
)
# Top-level modules that belong to a layer of another name (live.py wraps the Workspace for a
# serving process).
ALIASES = {"report": "cli", "live": "workspace"}
SRC = Path(tenure.__file__).parent


def layer_of(top: str) -> str:
    """The layer of a top-level package or module name under tenure/."""
    return ALIASES.get(top, top)


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reexports(root: Path) -> dict[str, str]:
    """Names the package `__init__` imports from its submodules, by the layer they come from."""
    init = root / "__init__.py"
    names: dict[str, str] = {}
    if not init.exists():
        return names
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == root.name and len(parts) > 1:
                for alias in node.names:
                    names[alias.asname or alias.name] = layer_of(parts[1])
    return names


def imported_layers(root: Path, path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, its layer) for each import of `root`'s package in `path`."""
    package = root.name
    here = module_name(root, path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]  # the package a relative import is resolved against
    exported = reexports(root)
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if module == package:  # `from tenure import x`: x is a submodule or a re-export
                for alias in node.names:
                    if (root / alias.name).is_dir() or (root / f"{alias.name}.py").exists():
                        targets.append(f"{package}.{alias.name}")
                    elif alias.name in exported:
                        found.append((node.lineno, f"{package}.{alias.name}", exported[alias.name]))
            else:
                targets = [module]
        for target in targets:
            parts = target.split(".")
            if parts[0] != package:
                continue
            if len(parts) == 1:  # `import tenure` reaches everything its __init__ re-exports
                highest = max(exported.values(), key=rank, default=None)
                if highest is not None:
                    found.append((node.lineno, target, highest))
            else:
                found.append((node.lineno, target, layer_of(parts[1])))
    return sorted(found)


def rank(layer: str) -> int:
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


def violations(root: Path) -> list[str]:
    """Every import of a later layer (or of/from a package missing from LAYERS) under `root`."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "__init__.py":
            continue
        name = module_name(root, path)
        own = layer_of(name.split(".")[1])
        where = path.relative_to(root.parent)
        if own not in LAYERS:
            problems.append(f"{where}: package {own!r} has no place in LAYERS")
            continue
        for line, target, layer in imported_layers(root, path):
            if layer not in LAYERS:
                problems.append(f"{where}:{line} imports {target} ({layer!r} is not in LAYERS)")
            elif rank(layer) > rank(own):
                problems.append(f"{where}:{line} ({own}) imports {target} ({layer})")
    return problems


def test_no_package_imports_a_later_layer() -> None:
    problems = violations(SRC)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_the_checker_finds_upward_imports(tmp_path: Path) -> None:
    root = tmp_path / "tenure"
    for folder in ("data", "metrics", "models"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("from tenure.workspace import Workspace\n")
    (root / "errors.py").write_text("")
    (root / "workspace.py").write_text("from tenure.metrics import query\nclass Workspace: ...\n")
    (root / "report.py").write_text("from tenure import workspace\n")
    (root / "metrics" / "query.py").write_text(
        "import tenure.errors\nfrom tenure.data import x\n"
        "def f():\n    from tenure.models.km import km\n"
    )
    (root / "models" / "km.py").write_text("from ..metrics import query\nfrom . import fit\n")
    (root / "data" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tenure import Workspace\n"
        "import tenure\nfrom ..metrics import query\n"
    )
    (root / "data" / "extra").mkdir()
    (root / "data" / "extra" / "y.py").write_text("from tenure import report\n")
    (root / "plugins.py").write_text("")
    assert violations(root) == [
        "tenure/data/extra/y.py:1 (data) imports tenure.report (cli)",
        "tenure/data/x.py:3 (data) imports tenure.Workspace (workspace)",
        "tenure/data/x.py:4 (data) imports tenure (workspace)",
        "tenure/data/x.py:5 (data) imports tenure.metrics (metrics)",
        "tenure/metrics/query.py:4 (metrics) imports tenure.models.km (models)",
        "tenure/plugins.py: package 'plugins' has no place in LAYERS",
    ]
