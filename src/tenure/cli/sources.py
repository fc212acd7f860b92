"""`tenure sources`: connect Stripe, Zendesk, HubSpot and the like, and sync them."""

import sys
from typing import Annotated

import typer

from tenure.cli.common import (
    AppDbOption,
    DbOption,
    Group,
    emit,
    friendly_errors,
    open_live,
    open_store,
    out,
)
from tenure.errors import TenureError

sources_app = typer.Typer(
    cls=Group, help="Data sources synced into the workspace.", no_args_is_help=True
)


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
    from_db: Annotated[
        str | None,
        typer.Option(
            "--from-db",
            help="Read the kind's tables as an ELT tool (Fivetran, Airbyte, dlt) landed them in "
            "this warehouse (an Ibis URL); the URL is kept in the secrets file.",
        ),
    ] = None,
    from_db_env: Annotated[
        str | None,
        typer.Option(
            "--from-db-env",
            help="Like --from-db, with the URL read from this environment variable at each sync "
            "(keeps it off the command line).",
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option("--layout", help="With --from-db: whose tables (default fivetran)."),
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option("--schema", help="With --from-db: the schema holding them (default: kind)."),
    ] = None,
    app_db: AppDbOption = None,
) -> None:
    """Add a data source. Its credential is never stored in the app database, printed or
    logged."""
    from tenure.app import sources

    if secret_env is not None and secret_stdin:
        raise TenureError("give either --secret-env or --secret-stdin")
    if manual and every is not None:
        raise TenureError("give either --every or --manual")
    options = _options(option)
    secret = None
    if secret_stdin:
        secret = sys.stdin.read().strip()
        if not secret:
            raise TenureError("--secret-stdin: standard input was empty")
    source_kind = kind
    if from_db is not None or from_db_env is not None:
        source_kind = _warehouse_kind(kind, options, layout, schema)
        if secret_env is not None or secret_stdin or (from_db and from_db_env):
            raise TenureError("give one of --from-db and --from-db-env, and no other credential")
        if from_db is not None and not from_db.strip():
            raise TenureError("--from-db: the warehouse URL is empty")
        secret, secret_env = from_db, from_db_env
    elif layout is not None or schema is not None:
        raise TenureError("--layout and --schema go with --from-db or --from-db-env")
    with open_store(app_db) as store:
        shown = sources.add(
            store,
            name or kind,
            source_kind,
            options,
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


def _warehouse_kind(
    kind: str, options: dict[str, str], layout: str | None, schema: str | None
) -> str:
    """`<kind>_elt`, the reader of the kind's warehouse tables, with layout and schema set as
    its options."""
    from tenure.sources import registry

    base = kind.removesuffix("_elt")
    elt = f"{base}_elt"
    if elt not in registry.kinds():
        readers = ", ".join(k.removesuffix("_elt") for k in registry.kinds() if k.endswith("_elt"))
        raise TenureError(f"{kind} has no warehouse reader; --from-db works for: {readers}")
    for option, given, default in (("layout", layout, "fivetran"), ("schema", schema, base)):
        if given is not None and options.get(option, given) != given:
            raise TenureError(f"--{option} and --option {option}=... disagree")
        options.setdefault(option, given or default)
    found = registry.resolve(elt)
    found.build(found.check_options(options), "duckdb://")  # checks the values; connects to none
    return elt


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
