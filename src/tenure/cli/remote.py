"""The CLI beside a running server.

`tenure serve` owns its DuckDB store and leaves a state file beside it (`<store>.serve.json`,
readable only by its user) with its address, process id and a local token. A command that finds
that file, and the process alive, runs inside the server instead of opening the store: the server
parses the same arguments, runs the same command on its live workspace (reads on a cursor of their
own, writes through its one writer) and sends back what the command printed and its exit code.
"""

import json
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenure.errors import TenureError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tenure.app.store import Store
    from tenure.live import LiveWorkspace

TOKEN_HEADER = "X-Tenure-Local-Token"
ROUTE = "/local/cli"
# Commands that must not run inside the server that holds the store.
LOCAL_ONLY = ("serve",)


@dataclass(frozen=True)
class ServerState:
    """What a running server leaves beside its store."""

    url: str
    pid: int
    token: str
    path: Path


def state_path(db_url: str | None) -> Path | None:
    """Where a server of this store keeps its state file; None for in-memory and other engines."""
    from tenure.engine.connection import default_url, duckdb_path

    path = duckdb_path(db_url or default_url())
    if path in (None, ":memory:"):
        return None
    store = Path(str(path)).resolve()
    return store.with_name(store.name + ".serve.json")


@contextmanager
def announced(db_url: str | None, url: str) -> Iterator[str]:
    """Write the state file (mode 0600) while the block runs; yields the local token."""
    path = state_path(db_url)
    token = secrets.token_urlsafe(32)
    if path is None:
        yield token
        return
    record = {"url": url, "pid": os.getpid(), "token": token}
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    try:
        yield token
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(db_url: str | None) -> ServerState | None:
    """The server holding this store, if one is running."""
    path = state_path(db_url)
    if path is None or not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        state = ServerState(str(record["url"]), int(record["pid"]), str(record["token"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if state.pid == os.getpid() or not _alive(state.pid):
        return None  # left by a server that died: the store is free
    return state


def forward(state: ServerState, command: str, argv: list[str], width: int) -> tuple[str, str, int]:
    """Run `argv` inside the server; what it printed to stdout and stderr, and its exit code."""
    if command in LOCAL_ONLY:
        raise TenureError(
            f"the store is already served at {state.url} (process {state.pid}); stop that server first"
        )
    import httpx

    try:
        answer = httpx.post(
            state.url + ROUTE,
            json={"argv": argv, "cwd": os.getcwd(), "width": width},
            headers={TOKEN_HEADER: state.token},
            timeout=None,
        )
    except httpx.HTTPError as exc:
        raise TenureError(
            f"the store is held by `tenure serve` (process {state.pid}) at {state.url}, which "
            f"does not answer ({exc}); stop it or wait for it"
        ) from None
    if answer.status_code != 200:
        raise TenureError(
            f"the server at {state.url} could not run the command ({answer.status_code}); "
            "see its log"
        )
    body = answer.json()
    return str(body["stdout"]), str(body["stderr"]), int(body["exit_code"])


def execute(argv: list[str], cwd: Path, width: int) -> dict[str, Any]:
    """Run one CLI invocation in this (server) process, capturing what it prints."""
    import click
    import typer

    from tenure.cli import app
    from tenure.cli.common import capture, err

    command = typer.main.get_command(app)
    code = 0
    with capture(width=width) as captured:
        try:
            # Without standalone mode click returns an Exit's code instead of exiting.
            result = command.main(args=argv, prog_name="tenure", standalone_mode=False)
            code = result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            err().print(f"error: {exc.format_message()}", highlight=False, markup=False)
            code = exc.exit_code
        except click.Abort:
            code = 1
    # Paths were resolved against the client's folder; show them as the client wrote them.
    inside = f"{cwd}{os.sep}"
    return {
        "stdout": captured.stdout.replace(inside, ""),
        "stderr": captured.stderr.replace(inside, ""),
        "exit_code": code,
    }


def add_route(app: "FastAPI", live: "LiveWorkspace", store: "Store", token: str) -> None:
    """The route a local CLI sends its commands to (not in the OpenAPI description). This module
    has no postponed annotations: FastAPI resolves the local body model from the signature."""
    import hmac
    from typing import Annotated

    from fastapi import Header, HTTPException
    from pydantic import BaseModel, Field

    from tenure.cli.common import serving

    class Invocation(BaseModel):
        argv: list[str] = Field(max_length=200)
        cwd: str = Field(max_length=4096)
        width: int = Field(default=120, ge=40, le=1000)

    @app.post(ROUTE, include_in_schema=False)
    def run_command(
        body: Invocation,
        x_tenure_local_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        given = (x_tenure_local_token or "").encode()
        if not given or not hmac.compare_digest(given, token.encode()):
            raise HTTPException(401, "this route takes the local token of the server's state file")
        with serving(live, store, Path(body.cwd)):
            return execute(body.argv, Path(body.cwd), body.width)


def run_through_server(db: str | None, command: str, argv: list[str] | None) -> int | None:
    """The exit code of running the command through a server that holds the store, or None when
    no server holds it (the command then opens the store itself)."""
    if argv is None:
        return None
    state = find_server(db)
    if state is None:
        return None
    from tenure.cli.common import out, write

    stdout, stderr, code = forward(state, command, argv, out().width)
    write(stdout)
    sys.stderr.write(stderr)
    return code
