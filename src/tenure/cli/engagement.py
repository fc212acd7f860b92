"""`tenure engagement`: the distribution of active days (stickiness) and retention by cohort,
of users or accounts."""

from typing import Annotated

import typer

from tenure.cli.common import (
    ByOption,
    DbOption,
    EndOption,
    FormatOption,
    GrainOption,
    Group,
    OutputOption,
    StartOption,
    WhereOption,
    emit,
    friendly_errors,
    open_reader,
    parse_date,
)
from tenure.errors import TenureError

engagement_app = typer.Typer(
    cls=Group,
    help="Engagement: stickiness and retention of users and accounts.",
    no_args_is_help=True,
)

UnitOption = Annotated[str, typer.Option("--unit", help="user or account.")]


def register(app: typer.Typer) -> None:
    app.add_typer(engagement_app, name="engagement")


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise TenureError(f"unknown {what} {value!r}; choose {' or '.join(allowed)}")


@engagement_app.command()
@friendly_errors
def stickiness(
    grain: GrainOption = "month",
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = None,
    where: WhereOption = None,
    unit: UnitOption = "user",
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """How many users (or accounts) were active on exactly k days of each period."""
    _check(unit, ("user", "account"), "unit")
    with open_reader(db) as ws:
        frame = ws.stickiness(
            grain=grain,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
            unit=unit,
        )
    emit(frame, fmt, output, f"{unit.capitalize()}s by days active per {grain}")


@engagement_app.command()
@friendly_errors
def retention(
    kind: Annotated[str, typer.Option("--kind", help="first_time or recurring.")] = "first_time",
    unit: UnitOption = "user",
    grain: Annotated[str, typer.Option("--grain", help="day, week or month.")] = "week",
    periods: Annotated[int, typer.Option("--periods", help="Offsets after the cohort.")] = 8,
    bracket: Annotated[
        str, typer.Option("--bracket", help="exact, or on_or_after (active then or later).")
    ] = "exact",
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Count only this event as activity.")
    ] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Retention by cohort: of the users (or accounts) first active (or active) in a period,
    the % active N periods later."""
    _check(kind, ("first_time", "recurring"), "kind")
    _check(unit, ("user", "account"), "unit")
    _check(bracket, ("exact", "on_or_after"), "bracket")
    with open_reader(db) as ws:
        frame = ws.retention(
            kind=kind,
            unit=unit,
            grain=grain,
            periods=periods,
            bracket=bracket,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            where=where,
            event=event,
        )
    if fmt != "table":
        emit(frame, fmt, output, "retention")
        return
    heat = frame.pivot_table(
        index=["cohort_start", "cohort_size"], columns="offset", values="rate"
    ).reset_index()
    heat.columns = [str(c) for c in heat.columns]
    emit(heat, "table", None, f"{kind} {unit} retention % ({bracket}) by cohort and {grain}s since")
