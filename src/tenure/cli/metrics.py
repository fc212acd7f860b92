"""Metric commands: metrics per period and segment, drill-down to accounts, cohorts, funnels
and survival."""

from pathlib import Path
from typing import Annotated

import typer

from tenure.cli.common import (
    ByOption,
    DbOption,
    EndOption,
    FormatOption,
    GrainOption,
    OutputOption,
    StartOption,
    WhereOption,
    emit,
    friendly_errors,
    open_reader,
    parse_date,
)
from tenure.errors import TenureError


def register(app: typer.Typer) -> None:
    for command in (metrics, drill, cohorts, funnel, survival):
        app.command()(command)


@friendly_errors
def metrics(
    names: Annotated[list[str], typer.Argument(help="Metric names, or `list` for the catalog.")],
    grain: GrainOption = "month",
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
    compare_policy: Annotated[
        str | None,
        typer.Option(
            "--compare-policy",
            help="A vendor preset (tenure, chartmogul, stripe, baremetrics): the metric under "
            "the workspace's policy and the preset's, and the difference split by setting, with "
            "the accounts behind each part.",
        ),
    ] = None,
) -> None:
    """Compute metrics per period and segment (`tenure metrics list` shows the catalog)."""
    if names == ["list"]:
        import pandas as pd

        from tenure.metrics.catalog import CATALOG

        catalog = pd.DataFrame(
            [(m.name, m.area, m.unit, m.description, m.definition) for m in CATALOG.values()],
            columns=["metric", "area", "unit", "description", "definition"],
        )
        emit(catalog, fmt, output, "Metric catalog")
        return
    if compare_policy is not None:
        if by:
            raise TenureError("--compare-policy compares the whole company; drop --by")
        _compare(names, compare_policy, grain, start, end, where, fmt, output, db)
        return
    with open_reader(db) as ws:
        frame = ws.metrics(
            names,
            grain=grain,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
        )
    emit(frame, fmt, output, f"Metrics by {grain} ({frame.attrs['reporting_currency']})")


def _compare(
    names: list[str],
    against: str,
    grain: str,
    start: str | None,
    end: str | None,
    where: str | None,
    fmt: str,
    output: Path | None,
    db: str | None,
) -> None:
    """Print (or write) each metric's two series with the parts of their difference as columns;
    in the table format, then the accounts behind each part."""
    import pandas as pd

    from tenure.metrics.compare import compare_many, wide

    with open_reader(db) as ws:
        found = compare_many(
            ws,
            names,
            against,
            grain=grain,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            where=where,
        )
        currency = ws.reporting_currency
    if fmt != "table":
        emit(pd.concat([wide(c) for c in found], ignore_index=True), fmt, output, "compare")
        return
    for c in found:
        order = ", ".join(c.settings) or "none: the policies agree"
        emit(
            wide(c).drop(columns="metric"),
            "table",
            None,
            f"{c.metric} ({currency}): workspace policy vs {c.against}; the difference by "
            f"setting, switched in this order: {order}",
        )
        if len(c.accounts):
            emit(c.accounts, "table", None, f"{c.metric}: the accounts behind each part")


@friendly_errors
def drill(
    name: Annotated[str, typer.Argument(help="A metric from `tenure metrics list`.")],
    period: Annotated[str, typer.Option("--period", help="2025-03, 2025-Q1, 2025 or a day.")],
    grain: GrainOption = "month",
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """List the accounts behind one metric in one period (who churned in March, and the MRR
    each one took)."""
    with open_reader(db) as ws:
        frame = ws.drill(name, period, grain=grain, by=by or (), where=where)
    emit(frame, fmt, output, f"{name}, {frame.attrs['period_start']}: {len(frame):,} accounts")


@friendly_errors
def cohorts(
    grain: GrainOption = "month",
    start: Annotated[str | None, typer.Option("--from", help="First cohort (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period (default today).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="logos or revenue.")] = "logos",
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Cohort retention: accounts by first-paid period, % still paying (logos) or % of their
    starting MRR kept (revenue) in each later period."""
    if kind not in ("logos", "revenue"):
        raise TenureError(f"unknown cohort kind {kind!r}; choose logos or revenue")
    with open_reader(db) as ws:
        frame = ws.cohorts(
            grain=grain,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
        )
    if fmt != "table":
        emit(frame, fmt, output, "cohorts")
        return
    column = "retention" if kind == "logos" else "revenue_retention"
    heat = frame.pivot_table(
        index=["cohort", *(by or []), "cohort_size"], columns="offset", values=column
    ).reset_index()
    heat.columns = [str(c) for c in heat.columns]
    emit(heat, "table", None, f"{kind} retention % by cohort and periods since joining")


@friendly_errors
def funnel(
    steps: Annotated[list[str], typer.Argument(help="Event names in order, e.g. visit signup.")],
    window: Annotated[
        float, typer.Option("--window", help="Days after the first step to complete the rest.")
    ] = 30.0,
    grain: GrainOption = "month",
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Ordered funnel: of the people who did the first step in each period, how many did each
    later step in order within the window."""
    with open_reader(db) as ws:
        frame = ws.funnel(
            steps,
            window_days=window,
            grain=grain,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
        )
    emit(frame, fmt, output, f"Funnel {' > '.join(steps)} within {window:g} days")


@friendly_errors
def survival(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Censor at this date.")] = None,
    by: ByOption = None,
    where: WhereOption = None,
    curve: Annotated[bool, typer.Option("--curve", help="Print the whole curve.")] = False,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Kaplan-Meier survival of account lifetimes, with censoring, and median lifetime."""
    with open_reader(db) as ws:
        points, summary = ws.survival(as_of=parse_date(as_of, "--as-of"), by=by or (), where=where)
    if curve:
        emit(points, fmt, output, "Kaplan-Meier survival (duration in days)")
    else:
        emit(summary, fmt, output, "Account lifetime (Kaplan-Meier)")
