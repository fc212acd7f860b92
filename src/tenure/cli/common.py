"""What every command shares: output, the error decorator, workspace opening, option types.

Output and workspace opening are hooks: every command prints through `out()`, `err()` and
`write()` and opens its stores through `open_writer`, `open_reader` and `open_store`, so a
caller can capture a command's output (`capture()`) or hand it an already open store.
Heavy imports (pandas, Ibis, DuckDB, SQLAlchemy) stay inside the functions.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tenure.errors import TenureError

if TYPE_CHECKING:
    from tenure.app.store import Store
    from tenure.live import LiveWorkspace
    from tenure.workspace import Workspace


# -- output ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Streams:
    """Where a command's output goes. `raw` None means `sys.stdout` at the time of writing."""

    out: Console
    err: Console
    raw: TextIO | None = None


# The real consoles, created once. A Console without a file follows sys.stdout / sys.stderr as
# they are when it prints (so test runners that swap them still see the output).
_STANDARD = _Streams(Console(soft_wrap=True), Console(stderr=True, soft_wrap=True))
_STREAMS: ContextVar[_Streams] = ContextVar("tenure_cli_streams", default=_STANDARD)


def out() -> Console:
    """The console for results (stdout, or the capture buffer inside `capture()`)."""
    return _STREAMS.get().out


def err() -> Console:
    """The console for errors, progress and notes (stderr, or the capture buffer)."""
    return _STREAMS.get().err


def write(text: str) -> None:
    """Write raw text (CSV, JSON, a key) to stdout, or to the capture buffer."""
    (_STREAMS.get().raw or sys.stdout).write(text)


@dataclass
class Captured:
    """The text a block printed while `capture()` was active."""

    _stdout: StringIO = field(default_factory=StringIO)
    _stderr: StringIO = field(default_factory=StringIO)

    @property
    def stdout(self) -> str:
        return self._stdout.getvalue()

    @property
    def stderr(self) -> str:
        return self._stderr.getvalue()


def _buffer_console(buffer: StringIO, width: int) -> Console:
    return Console(
        file=buffer,
        force_terminal=False,
        force_interactive=False,
        force_jupyter=False,
        color_system=None,
        soft_wrap=True,
        width=width,
    )


@contextmanager
def capture(width: int = 120) -> Iterator[Captured]:
    """Route `out()`, `err()` and `write()` of this context (thread, task) into buffers."""
    captured = Captured()
    streams = _Streams(
        _buffer_console(captured._stdout, width),
        _buffer_console(captured._stderr, width),
        captured._stdout,
    )
    token = _STREAMS.set(streams)
    try:
        yield captured
    finally:
        _STREAMS.reset(token)


# -- the invocation: its arguments, and the server it may run in --------------------------------
_ARGV: ContextVar[list[str] | None] = ContextVar("tenure_cli_argv", default=None)


class Group(typer.core.TyperGroup):
    """A command group whose `--help` defaults to False instead of None. Typer passes a bool
    flag's bool value through but coerces a None with a pydantic TypeAdapter, and building one
    imports pydantic (about 0.1 s): every group above the command that runs, the root included,
    processes its `--help`, so with None `tenure GROUP --help` would pay for it."""

    def get_help_option(self, ctx: Any) -> typer.core.TyperOption | None:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


class Invocation(Group):
    """The root command group; it keeps the arguments it was called with, so that a command can
    hand them to a server that holds its store (see `tenure.cli.remote`)."""

    def main(self, args: Any = None, *pos: Any, **options: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        token = _ARGV.set(argv)
        try:
            return super().main(argv, *pos, **options)
        finally:
            _ARGV.reset(token)


@dataclass(frozen=True)
class _Served:
    live: LiveWorkspace
    store: Store
    cwd: Path


# Set while a command runs inside `tenure serve` on behalf of a local client.
_SERVED: ContextVar[_Served | None] = ContextVar("tenure_cli_served", default=None)


@contextmanager
def serving(live: LiveWorkspace, store: Store, cwd: Path) -> Iterator[None]:
    """Run commands of this context on the server's own stores, with paths relative to `cwd`."""
    token = _SERVED.set(_Served(live, store, cwd))
    try:
        yield
    finally:
        _SERVED.reset(token)


def _from(cwd: Path, value: Any) -> Any:
    """A path argument as the client meant it: relative to the client's folder."""
    if isinstance(value, Path) and not value.is_absolute():
        return cwd / value
    if isinstance(value, list):
        return [_from(cwd, v) for v in value]
    return value


# -- the one decorator on every command --------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Show a TenureError as one line on stderr and exit 2, never as a traceback. A command that
    names a store held by a running `tenure serve` runs inside that server."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        served = _SERVED.get()
        try:
            if served is not None:
                kwargs = {k: _from(served.cwd, v) for k, v in kwargs.items()}
            elif "db" in kwargs:
                from tenure.cli.remote import run_through_server

                code = run_through_server(kwargs["db"], command.__name__, _ARGV.get())
                if code is not None:
                    raise typer.Exit(code)
            return command(*args, **kwargs)
        except TenureError as exc:
            err().print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


# -- opening the stores ------------------------------------------------------------------------
@contextmanager
def open_writer(db: str | None) -> Iterator[Workspace]:
    """The workspace opened for writing; closed when the block ends. Inside a server: its one
    writer, waited for."""
    served = _SERVED.get()
    if served is not None:
        with served.live.writer() as ws:
            yield ws
        return
    from tenure.workspace import connect

    with connect(db) as ws:
        yield ws


@contextmanager
def open_reader(db: str | None) -> Iterator[Workspace]:
    """The workspace opened read-only when it exists, so queries never block a writer. Inside a
    server: a reader on its own cursor."""
    served = _SERVED.get()
    if served is not None:
        with served.live.reader() as ws:
            yield ws
        return
    from tenure.engine.connection import default_url, duckdb_path
    from tenure.workspace import connect

    url = db or default_url()
    path = duckdb_path(url)
    read_only = path not in (None, ":memory:") and Path(str(path)).exists()
    with connect(url, read_only=read_only) as ws:
        yield ws


@contextmanager
def open_live(db: str | None) -> Iterator[LiveWorkspace]:
    """The workspace as a live one, for work that takes the writer in turns (a sync takes it
    page by page). Inside a server: the server's own, so reads and other writes go on."""
    served = _SERVED.get()
    if served is not None:
        yield served.live
        return
    from tenure.live import LiveWorkspace
    from tenure.workspace import connect

    with connect(db) as ws:
        yield LiveWorkspace(ws)


@contextmanager
def open_store(app_db: str | None) -> Iterator[Store]:
    """The application store (goals, surveys, automations, keys); disposed when the block ends.
    Inside a server: the server's own store, unless another is named."""
    served = _SERVED.get()
    if served is not None and app_db is None:
        yield served.store
        return
    from tenure.app.store import Store

    store = Store(app_db)
    try:
        yield store
    finally:
        store.dispose()


# -- option types ------------------------------------------------------------------------------
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Workspace URL (default $TENURE_DB or duckdb:///tenure.duckdb)."),
]
AppDbOption = Annotated[str | None, typer.Option("--app-db", help="App store URL.")]
GrainOption = Annotated[str, typer.Option("--grain", help="day, week, month, quarter or year.")]


def _each_once(values: list[str] | None) -> list[str] | None:
    """`--by` names each segment once (a repeat would split a result by itself)."""
    if values and len(set(values)) < len(values):
        twice = next(v for i, v in enumerate(values) if v in values[:i])
        raise typer.BadParameter(f"{twice!r} is given twice; name each segment once")
    return values


ByOption = Annotated[
    list[str] | None,
    typer.Option("--by", help="Account attribute to split by (repeatable).", callback=_each_once),
]
WhereOption = Annotated[
    str | None, typer.Option("--where", help="Filter on account attributes: \"plan = 'pro'\".")
]
FormatOption = Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file (parquet needs one).")
]
HorizonOption = Annotated[int, typer.Option("--horizon", help="Days ahead (default 90).")]
StartOption = Annotated[str | None, typer.Option("--from", help="First period (a date).")]
EndOption = Annotated[str | None, typer.Option("--to", help="Last period (default today).")]


# -- dates -------------------------------------------------------------------------------------
def parse_date(value: str | None, option: str) -> dt.date | None:
    """The day an option names (`2025-03-01`, or `2025-03` for its first day), None if unset."""
    if value is None:
        return None
    from tenure.engine.calendar import parse_period

    try:
        return parse_period(value, "day")
    except TenureError:
        raise TenureError(
            f"{option} {value!r} is not a date; write 2025-03-01 or 2025-03"
        ) from None


def required_date(value: str, option: str) -> dt.date:
    day = parse_date(value, option)
    assert day is not None
    return day


# -- results -----------------------------------------------------------------------------------
FORMATS = ("table", "csv", "json", "parquet")


def emit(frame: Any, fmt: str, output: Path | None, title: str) -> None:
    """Print or write a result frame in the chosen format."""
    if fmt not in FORMATS:
        raise TenureError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if output is None:
            raise TenureError("--format parquet writes a file; add --output result.parquet")
        frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(
            output, index=False
        )
        err().print(f"wrote {len(frame):,} rows to {output}", highlight=False)
        return
    if fmt in ("csv", "json"):
        from tenure.data.csv_safe import frame_to_csv

        text = (
            frame_to_csv(frame)
            if fmt == "csv"
            else frame.to_json(orient="records", date_format="iso", default_handler=str, indent=1)
        )
        if output is None:
            write(text if text.endswith("\n") else text + "\n")
        else:
            output.write_text(text, encoding="utf-8")
        return
    shown = Table(*[str(c) for c in frame.columns], title=title)
    for record in frame.itertuples(index=False):
        shown.add_row(*(cell(v) for v in record))
    out().print(shown)


def cell(value: Any) -> str:
    """A value as a table cell: blanks for missing, thousands separators, two decimals."""
    from decimal import Decimal

    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (float, Decimal)):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
