"""`tenure serve` owns its store while the CLI keeps working: commands that find the store held by
a running server run through it, with the same output and exit codes, and the API sees a load as
soon as it commits. Everything runs as separate processes, as a user would run it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.readme import readme_block

pytestmark = pytest.mark.slow


def tenure(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in `folder`, as a user in a second terminal would."""
    return subprocess.run(
        [sys.executable, "-m", "tenure.cli", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "100"},
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


COMPARED = [
    ("metrics", "mrr", "arpa", "--from", "2026-01", "--to", "2026-10"),
    ("drill", "mrr_churned", "--period", "2026-10"),
    ("metrics", "mrr", "--by", "plan", "--from", "2026-09", "--format", "csv"),
]
DIRECT: dict[tuple[str, ...], str] = {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """A demo store in a folder, a server on it, and an admin key: (folder, base URL, key)."""
    folder = tmp_path_factory.mktemp("live")
    built = tenure(
        folder, "demo", "--accounts", "150", "--events", "20000", "--as-of", "2026-11-01"
    )
    assert built.returncode == 0, built.stderr
    key = tenure(folder, "keys", "create", "ops", "--role", "admin").stdout.strip()
    for args in COMPARED:  # what these print with the store opened directly, before serving
        DIRECT[args] = tenure(folder, *args).stdout
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tenure.cli", "serve", "--port", str(port)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    state = folder / "tenure.duckdb.serve.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if state.exists() and httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("the server did not start")
    yield folder, base, key
    server.send_signal(signal.SIGINT)
    server.wait(60)
    assert not state.exists(), "the server left its state file behind"


def test_the_state_file_is_private_to_its_user(served: tuple[Path, str, str]) -> None:
    folder, base, _ = served
    state = folder / "tenure.duckdb.serve.json"
    assert state.stat().st_mode & 0o777 == 0o600
    record = json.loads(state.read_text())
    assert record["url"] == base and len(record["token"]) >= 32


def test_the_readme_second_terminal_runs_while_the_demo_serves(
    served: tuple[Path, str, str],
) -> None:
    folder, base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    for line in readme_block("second-terminal"):
        words = line.split()
        assert words[0].endswith("tenure"), line
        if words[1] == "load":  # the README's example file is the demo's own, written here
            (folder / "examples").mkdir(exist_ok=True)
            source = Path(__file__).parents[1] / words[3]
            (folder / words[3]).write_text(source.read_text())
            before = httpx.get(
                f"{base}/api/metrics",
                params={"names": "tickets", "from": "2026-11-01", "to": "2026-11-30"},
                headers=headers,
            ).json()["items"]
        done = tenure(folder, *words[1:])
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "Could not set lock" not in done.stderr
        if words[1] == "load":
            assert "2 inserted" in done.stdout
            after = httpx.get(
                f"{base}/api/metrics",
                params={"names": "tickets", "from": "2026-11-01", "to": "2026-11-30"},
                headers=headers,
            ).json()["items"]
            # The dashboard's API sees the load as soon as it committed.
            assert after[0]["value"] == (before[0]["value"] or 0) + 2
        if words[1] == "drill":
            assert "accounts" in done.stdout


def test_the_command_route_refuses_anyone_without_the_local_token(
    served: tuple[Path, str, str],
) -> None:
    folder, base, key = served
    command = {"argv": ["keys", "create", "intruder", "--role", "admin"], "cwd": str(folder)}
    for headers in ({}, {"X-Tenure-Local-Token": "guess"}, {"Authorization": f"Bearer {key}"}):
        refused = httpx.post(f"{base}/local/cli", json=command, headers=headers)
        assert refused.status_code == 401
    listed = tenure(folder, "keys", "revoke", "intruder")
    assert "revoked 0 key(s)" in listed.stdout


def test_errors_and_exit_codes_come_back_unchanged(served: tuple[Path, str, str]) -> None:
    folder, _, _ = served
    unknown = tenure(folder, "drill", "no_such_metric", "--period", "2026-10")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: ") and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    again = tenure(folder, "serve")
    assert again.returncode == 2 and "already served" in again.stderr


def test_a_bad_file_through_the_server_writes_rejects_beside_it(
    served: tuple[Path, str, str],
) -> None:
    folder, _, _ = served
    (folder / "bad.csv").write_text(
        "ticket_id,account_id,opened_at,channel,status\nt-bad-1,a1,not a time,email,open\n"
    )
    done = tenure(folder, "load", "tickets", "bad.csv")
    assert done.returncode == 1
    assert "rejects written to bad.csv.rejects.csv" in done.stdout
    assert (folder / "bad.csv.rejects.csv").exists()


def test_output_is_the_same_through_the_server_and_without_it(
    served: tuple[Path, str, str],
) -> None:
    folder, _, _ = served
    for args, direct in DIRECT.items():
        through = tenure(folder, *args)
        assert through.returncode == 0, through.stderr
        assert through.stdout == direct
