"""`tenure sources`: connect Stripe, Zendesk, HubSpot and the like, and sync them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tenure.cli.common import (
    AppDbOption,
    DbOption,
    emit,
    friendly_errors,
    open_live,
    open_store,
    out,
)
from tenure.errors import TenureError

sources_app = typer.Typer(help="Data sources synced into the workspace.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")


def _options(pairs: list[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise TenureError(f"--option {pair!r}: write name=value")
        if name.strip() in options:
            raise TenureError(f"--option {name.strip()!r} is given twice")
        options[name.strip()] = value
    return options


@sources_app.command("add")
@friendly_errors
def sources_add(
    kind: Annotated[str, typer.Argument(help="The kind of source: stripe, zendesk, hubspot, ...")],
    name: Annotated[
        str | None, typer.Option("--name", help="What to call it (default: the kind).")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="An option of the kind, name=value (repeatable)."),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            help="Read the credential from this environment variable at each sync "
            "(default: the kind's own, e.g. STRIPE_API_KEY).",
        ),
    ] = None,
    secret_stdin: Annotated[
        bool,
        typer.Option(
            "--secret-stdin",
            help="Read the credential once from standard input and keep it in the secrets file "
            "beside the app store (mode 0600).",
        ),
    ] = False,
    every: Annotated[
        int | None, typer.Option("--every", help="Sync every N minutes when served (default 60).")
    ] = None,
    manual: Annotated[
        bool, typer.Option("--manual", help="Sync only with `tenure sources sync`.")
    ] = False,
    app_db: AppDbOption = None,
) -> None:
    """Add a data source. Its credential is never stored in the app database, printed or
    logged."""
    from tenure.app import sources

    if secret_env is not None and secret_stdin:
        raise TenureError("give either --secret-env or --secret-stdin")
    if manual and every is not None:
        raise TenureError("give either --every or --manual")
    secret = None
    if secret_stdin:
        secret = sys.stdin.read().strip()
        if not secret:
            raise TenureError("--secret-stdin: standard input was empty")
    with open_store(app_db) as store:
        shown = sources.add(
            store,
            name or kind,
            kind,
            _options(option),
            secret=secret,
            secret_env=secret_env,
            every_minutes=None if manual else (every or sources.DEFAULT_EVERY_MINUTES),
        )
    out().print(
        f"source {shown['name']} added ({shown['kind']}, {shown['schedule']}, credential: "
        f"{shown['credential']}); sync it with `tenure sources sync {shown['name']}`",
        highlight=False,
        markup=False,
    )


def _when(value: object) -> str:
    return "" if value is None else str(value)[:16]


@sources_app.command("list")
@friendly_errors
def sources_list(
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    app_db: AppDbOption = None,
) -> None:
    """The sources with their schedule, last sync, what it pulled and rejected, and next run."""
    import pandas as pd

    from tenure.app import sources

    if fmt not in ("table", "csv", "json"):
        raise TenureError(f"unknown format {fmt!r}; choose one of: table, csv, json")
    with open_store(app_db) as store:
        rows = sources.all_sources(store)
    frame = pd.DataFrame(
        [
            {
                "name": s["name"],
                "kind": s["kind"],
                "schedule": s["schedule"],
                "last sync": _when(s["finished_at"] or s["started_at"]),
                "status": s["status"] or "never synced",
                "records": s["records"],
                "loaded": s["loaded"],
                "rejects": s["rejected"],
                "next run": _when(s["next_run_at"]),
            }
            for s in rows
        ],
        columns=[
            "name",
            "kind",
            "schedule",
            "last sync",
            "status",
            "records",
            "loaded",
            "rejects",
            "next run",
        ],
    ).astype({"records": "Int64", "loaded": "Int64", "rejects": "Int64"})
    emit(frame, fmt, None, f"{len(frame)} source{'' if len(frame) == 1 else 's'} (times UTC)")


@sources_app.command("sync")
@friendly_errors
def sources_sync(
    name: Annotated[str, typer.Argument(help="The source's name.")],
    full: Annotated[
        bool, typer.Option("--full", help="Forget the cursors and staged records; pull all.")
    ] = False,
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Sync a source now (inside `tenure serve` when it holds the workspace)."""
    from tenure.api.jobs import sync_source

    with open_store(app_db) as store, open_live(db) as live:
        report = sync_source(live, store, name, full=full)
    out().print(" ".join(report.summary().split()), highlight=False, markup=False)
    for table, load in report.loads.items():
        for warning in load.warnings:
            out().print(f"{table}: {warning}", highlight=False, markup=False)


@sources_app.command("remove")
@friendly_errors
def sources_remove(
    name: Annotated[str, typer.Argument(help="The source's name.")],
    keep_data: Annotated[
        bool,
        typer.Option(
            "--keep-data",
            help="Keep its staged records and cursors (adding it again resumes from them).",
        ),
    ] = False,
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Remove a source and its kept credential. The rows it loaded stay in the workspace."""
    from tenure.app import sources

    with open_store(app_db) as store:
        sources.remove(store, name)
    if not keep_data:
        with open_live(db) as live:
            sources.forget_staged(name, lambda: live.writer(changes_data=False))
    out().print(f"source {name} removed", highlight=False, markup=False)
