"""Fast start: the CLI and the API import none of the heavy statistics (scikit-learn, SciPy, the
models) until a command or a route needs them, and `tenure serve` answers while it builds its
application, still failing with one line, exit 2, when the store cannot be opened.

What the imports cost is measured in `benchmarks/startup.py`; these tests check what is imported,
not how long it takes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

HEAVY = ("sklearn", "scipy", "tenure.models")


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    modules = json.loads(done.stdout.splitlines()[-1])
    return [name for name in modules if name.split(".")[0] in HEAVY or name.startswith(HEAVY)]


def test_the_cli_imports_no_pandas_ibis_or_models() -> None:
    heavy = loaded_after("import tenure.cli")
    assert heavy == []
    modules = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tenure.cli, sys; print('pandas' in sys.modules, 'ibis' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert modules == ["False", "False"]


def test_the_api_app_imports_no_models() -> None:
    assert loaded_after("import tenure.api.app") == []


def test_the_probe_sees_heavy_modules_when_they_are_imported() -> None:
    assert "tenure.models" in loaded_after("import tenure.models.account_snapshot")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_on_a_locked_store_fails_with_one_line(tmp_path: Path) -> None:
    store = tmp_path / "held.duckdb"
    holder = duckdb.connect(str(store))  # another process's writer holds the file lock
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tenure.cli",
                "serve",
                "--port",
                str(free_port()),
                "--db",
                f"duckdb:///{store}",
                "--app-db",
                f"sqlite:///{tmp_path / 'app.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and "lock" in errors[0]
    assert not (tmp_path / "held.duckdb.serve.json").exists()


@pytest.mark.slow
def test_serve_answers_health_then_serves_the_app(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tenure.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            f"duckdb:///{tmp_path / 's.duckdb'}",
            "--app-db",
            f"sqlite:///{tmp_path / 'app.db'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        statuses: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "ok" not in statuses:
            try:
                statuses.append(httpx.get(f"{base}/health", timeout=5).json()["status"])
            except httpx.TransportError:
                time.sleep(0.05)
        assert statuses and statuses[-1] == "ok"
        assert set(statuses) <= {"starting", "ok"}
        # A route of the application proper: anonymous, so the API's own problem answers it.
        denied = httpx.get(f"{base}/api/metrics", timeout=30)
        assert denied.status_code == 401
        assert denied.headers["content-type"].startswith("application/problem+json")
    finally:
        server.kill()  # how it stops is test_serve_live's subject; on an empty store the
        server.wait(60)  # snapshot job's retries hold a graceful stop for a while
