"""Every package the code imports at run time is a declared dependency, so `tenure serve` and the
CLI work on a plain install (the Spark extra declares pyspark)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).parents[1]


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["spark"]]
    return {normal(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0]) for spec in specs}


def imported() -> dict[str, str]:
    """Top-level third-party modules imported anywhere under src/tenure, with one place each."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "tenure").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top != "tenure" and top not in sys.stdlib_module_names:
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_imported_package_is_a_declared_dependency() -> None:
    owners = packages_distributions()
    names = declared()
    missing = {
        module: where
        for module, where in imported().items()
        if not {normal(d) for d in owners.get(module, [module])} & names
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
