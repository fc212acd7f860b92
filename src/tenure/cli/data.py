"""Data commands: load files, build the demo, the KPI report, the contract, settings, the load
history and the Parquet export."""

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tenure.cli.common import (
    DbOption,
    cell,
    err,
    friendly_errors,
    open_reader,
    open_writer,
    out,
)
from tenure.errors import TenureError


def register(app: typer.Typer) -> None:
    for command in (load, demo, report, contract, config, loads, export):
        app.command()(command)


@friendly_errors
def load(
    table: Annotated[
        str, typer.Argument(help="accounts, users, subscriptions, orders, events, ...")
    ],
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file.")],
    mapping: Annotated[Path | None, typer.Option(help="YAML file renaming your columns.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of timestamps without an offset.")
    ] = None,
    rejects: Annotated[Path | None, typer.Option(help="Where to write rejected rows.")] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Reject rows naming an account not in accounts (default: warn)."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Load a file into a table: bad rows are rejected with line, column and reason."""
    with open_writer(db) as ws:
        report = ws.load(
            table,
            file,
            mapping=mapping,
            fmt=fmt,
            timezone=timezone,
            rejects_path=rejects,
            strict=strict,
        )
    out().print(report.summary(), highlight=False)
    for warning in report.warnings:
        out().print(
            f"warning: {warning} (load accounts first, or --strict to reject such rows)",
            highlight=False,
        )
    if report.ignored_columns:
        out().print(
            f"ignored columns (not in the {table} contract): {', '.join(report.ignored_columns)}",
            highlight=False,
        )
    if report.new_attributes:
        out().print(f"new segment attributes: {', '.join(report.new_attributes)}", highlight=False)
    if report.rejects:
        shown = Table("line" if report.line_label == "line" else "row", "column", "value", "reason")
        for r in report.rejects[:10]:
            shown.add_row(str(r.line), r.column, (r.value or "")[:40], r.reason)
        out().print(shown)
        more = report.problems - min(10, len(report.rejects))
        if more > 0:
            out().print(f"... and {more} more", highlight=False)
    if report.rejects_path:
        out().print(f"rejects written to {report.rejects_path}", highlight=False)
    if report.nothing_loaded:
        err().print("error: no row could be loaded; see the rejects above", highlight=False)
        raise typer.Exit(1)


@friendly_errors
def demo(
    accounts: Annotated[int, typer.Option(min=1, help="Number of customer accounts.")] = 2000,
    events: Annotated[int, typer.Option(min=1, help="Number of usage events (exact).")] = 1_000_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same company.")
    ] = 7,
    as_of: Annotated[
        str | None, typer.Option(help="Last day of the history, YYYY-MM-DD (default today).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the Parquet files.")] = Path(
        "demo-data"
    ),
    db: DbOption = None,
) -> None:
    """Build the demo company (every table) and load it into the workspace."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tenure import demo as demo_company

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise TenureError(f"--as-of {as_of!r} is not a date; write YYYY-MM-DD") from None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with open_writer(db) as ws, Progress(*columns, console=err(), transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, advance: int, total: int) -> None:
            if stage not in tasks:
                label = "generating events" if stage == "events" else "loading tables"
                tasks[stage] = bar.add_task(label, total=total)
            bar.advance(tasks[stage], advance)

        result = demo_company.build(
            ws, out_dir, accounts=accounts, events=events, seed=seed, as_of=day, progress=progress
        )
    summary = Table("table", "rows", "inserted", "updated", "unchanged", "rejected")
    for r in result.reports:
        summary.add_row(
            r.table,
            f"{r.rows_read:,}",
            f"{r.inserted:,}",
            f"{r.updated:,}",
            f"{r.unchanged:,}",
            f"{r.rejected:,}",
        )
    out().print(summary)
    out().print(
        f"generated in {result.seconds_generate:.1f} s, loaded in {result.seconds_load:.1f} s, "
        f"peak memory {result.peak_memory_mb:,.0f} MB; files in {out_dir}",
        highlight=False,
    )


@friendly_errors
def report(db: DbOption = None) -> None:
    """Print the KPI summary of the workspace."""
    from tenure.report import data_summary, kpi_summary

    with open_reader(db) as ws:
        rows = data_summary(ws)
        currency = ws.reporting_currency
        kpis = kpi_summary(ws) if any(r.rows for r in rows if r.table == "subscriptions") else None
    shown = Table(
        "table", "rows", "from", "to", title=f"Tenure workspace (reporting in {currency})"
    )
    for row in rows:
        shown.add_row(row.table, f"{row.rows:,}", row.first or "", row.last or "")
    out().print(shown)
    if kpis is not None:
        months = [str(c)[:7] for c in kpis.columns]
        table = Table("KPI", *months, title=f"Last complete months ({currency})")
        for name, values in kpis.iterrows():
            table.add_row(str(name), *(cell(v) for v in values))
        out().print(table)


@friendly_errors
def contract(
    table: Annotated[str | None, typer.Argument(help="One table; all when omitted.")] = None,
) -> None:
    """Show the data contract: columns, types, and which are required."""
    from tenure.data.contract import CONTRACTS, contract_for

    for name in [table] if table else list(CONTRACTS):
        spec = contract_for(name)
        shown = Table(
            "column", "type", "required", "rule / default", title=f"{name}: {spec.description}"
        )
        for col in spec.columns:
            rule = ", ".join(col.choices) if col.choices else (col.description or "")
            if col.default is not None and len(col.default) < 12:
                rule = f"{rule} (default {col.default})".strip()
            shown.add_row(col.name, col.kind.value, "yes" if col.required else "", rule)
        out().print(shown)


@friendly_errors
def config(
    key: Annotated[
        str,
        typer.Argument(
            help="reporting_currency, timezone, policy.<name> or definition.<name> "
            "(`tenure config list` shows them all)"
        ),
    ],
    value: Annotated[str | None, typer.Argument(help="New value; omit to read it.")] = None,
    db: DbOption = None,
) -> None:
    """Read or change a workspace setting."""
    if key == "list":
        from tenure.metrics.definitions import HELP as COUNTING
        from tenure.metrics.policy import HELP as REVENUE
        from tenure.workspace import DEFAULT_SETTINGS

        for name, default in DEFAULT_SETTINGS.items():
            short = name.split(".", 1)[-1]
            text = {**REVENUE, **COUNTING}.get(short, "") if "." in name else ""
            out().print(f"{name} (default {default!r}) {text}", highlight=False)
        return
    with open_writer(db) as ws:
        if value is not None:
            ws.set_setting(key, value)
        out().print(f"{key} = {ws.setting(key)}", highlight=False)


@friendly_errors
def loads(db: DbOption = None) -> None:
    """Show the load history with counts."""
    with open_writer(db) as ws:
        history = ws.loads()
    columns = ["loaded_at", "table_name", "inserted", "updated", "unchanged", "rejected"]
    shown = Table(*columns, "source")
    for record in history.to_dict("records"):
        shown.add_row(*(str(record[c])[:19] for c in columns), Path(str(record["source"])).name)
    out().print(shown)


@friendly_errors
def export(
    folder: Annotated[Path, typer.Argument(help="Folder for <table>.parquet files.")],
    partition_by: Annotated[
        str | None,
        typer.Option(
            "--partition-by",
            help="month: write events, orders, tickets and survey responses as Hive partitions "
            "by the month of their timestamp, so Spark reads only the months a query needs.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export every table to Parquet, to run metrics on Spark: --db pyspark:///FOLDER."""
    with open_reader(db) as ws:
        written = ws.export(folder, partition_by=partition_by)
    out().print(f"wrote {len(written)} tables to {folder}", highlight=False)
