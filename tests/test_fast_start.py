"""Fast start: `tenure --help`, `tenure metrics --help` and the help of every command group and
command import none of the heavy packages (data frames, the engine, the web stack, the
statistics, the connector clients, pydantic) nor the Tenure layers built on them; only a command
that runs does. Each check runs in a fresh interpreter, since one test's imports would hide
another's.

How long the help takes is measured in `benchmarks/startup.py`, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys

import typer.main

from tenure.cli import app

HEAVY = (
    # data and engine
    "pandas", "numpy", "pyarrow", "ibis", "duckdb", "sqlglot", "polars", "pyspark",
    # statistics and text
    "sklearn", "scipy", "langdetect",
    # app store and web stack
    "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "pydantic", "jinja2",
    "apscheduler", "httpx",
    # connector clients
    "stripe", "zenpy", "hubspot", "requests",
)  # fmt: skip
# Tenure's own layers past the CLI: each imports some of the above.
HEAVY_TENURE = (
    "tenure.workspace", "tenure.live", "tenure.data", "tenure.engine", "tenure.metrics",
    "tenure.models", "tenure.text", "tenure.sources", "tenure.app", "tenure.demo",
    "tenure.web", "tenure.api", "tenure.report",
)  # fmt: skip


def heavy(modules: list[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if name.split(".")[0] in HEAVY
        or any(name == layer or name.startswith(f"{layer}.") for layer in HEAVY_TENURE)
    )


def run_probe(code: str, *args: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter; it prints one JSON object on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


# The real entry point (`python -m tenure.cli ARGS`), its exit code and what it left imported.
ENTRY_POINT = """
import json, runpy, sys
sys.argv = ["tenure", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("tenure.cli", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code
print()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# Every help path through Typer's CliRunner, in one interpreter: the heavy modules loaded after
# each path, in order (imports only accumulate, so the first path that pulls one in is named).
EVERY_HELP = """
import json, sys
from typer.testing import CliRunner
from tenure.cli import app
paths = json.loads(sys.argv[1])
runner = CliRunner()
after = []
for path in paths:
    result = runner.invoke(app, [*path, "--help"])
    after.append({"path": path, "code": result.exit_code, "modules": sorted(sys.modules)})
print(json.dumps({"after": after}))
"""


def help_paths() -> list[list[str]]:
    """Every command group and command of `tenure`, the root first."""
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_importing_the_cli_and_the_package_loads_nothing_heavy() -> None:
    probe = "import json, sys, tenure, tenure.cli\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=True
    )
    assert heavy(json.loads(done.stdout)) == []


def test_top_level_group_and_command_help_through_the_entry_point_load_nothing_heavy() -> None:
    # `tenure --help`, then `tenure NAME --help` for every group (sources, automations, ...) and
    # every command of the root (metrics, load, serve, ...).
    first_level = [path for path in help_paths() if len(path) == 1]
    assert {"metrics", "sources", "automations", "serve"} <= {path[0] for path in first_level}
    for args in [[], *first_level]:
        result = run_probe(ENTRY_POINT, *args, "--help")
        assert result["code"] == 0, args
        assert isinstance(result["modules"], list)
        assert heavy(result["modules"]) == [], args


def test_every_help_path_loads_nothing_heavy() -> None:
    paths = help_paths()
    assert len(paths) > 30  # the walk found the commands inside the groups too
    result = run_probe(EVERY_HELP, json.dumps(paths))
    after = result["after"]
    assert isinstance(after, list) and len(after) == len(paths)
    for step in after:
        assert step["code"] == 0, step["path"]
        assert heavy(step["modules"]) == [], step["path"]


def test_the_probe_sees_a_command_that_runs_import_the_heavy_packages() -> None:
    # A command that runs and the public Python API do load them: the checks above can fail.
    result = run_probe(ENTRY_POINT, "metrics", "list")
    assert result["code"] == 0
    assert isinstance(result["modules"], list)
    loaded = heavy(result["modules"])
    assert {"pandas", "ibis", "duckdb", "tenure.metrics"} <= set(loaded)


def test_the_public_api_still_resolves_connect_and_workspace() -> None:
    probe = (
        "import json, sys, tenure\n"
        "before = sorted(sys.modules)\n"
        "from tenure import Workspace, TenureError, connect\n"
        "import tenure.workspace as w, tenure.errors as e\n"
        "same = [connect is w.connect, Workspace is w.Workspace, TenureError is e.TenureError,\n"
        "        tenure.connect is w.connect, 'connect' in dir(tenure)]\n"
        "print(json.dumps({'same': same, 'before': before, 'after': sorted(sys.modules)}))"
    )
    result = run_probe(probe)
    assert result["same"] == [True] * 5
    assert isinstance(result["before"], list) and isinstance(result["after"], list)
    assert heavy(result["before"]) == []
    assert "tenure.workspace" in heavy(result["after"])
