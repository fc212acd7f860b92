"""`tenure surveys`: response rates of the surveys sent by signed links."""

from typing import Annotated

import typer

from tenure.cli.common import (
    AppDbOption,
    ByOption,
    DbOption,
    FormatOption,
    Group,
    WhereOption,
    emit,
    friendly_errors,
    open_reader,
    open_store,
    parse_date,
)

surveys_app = typer.Typer(cls=Group, help="Surveys sent by signed links.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(surveys_app, name="surveys")


@surveys_app.command("rates")
@friendly_errors
def surveys_rates(
    by: ByOption = None,
    where: WhereOption = None,
    start: Annotated[str | None, typer.Option("--from", help="Sent on or after (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Sent on or before (a date).")] = None,
    fmt: FormatOption = "table",
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Invitations sent, answered and the response rate per survey, touchpoint, channel (and
    account segment with --by)."""
    from tenure.app.surveys import response_rates

    with open_reader(db) as ws, open_store(app_db) as store:
        rates = response_rates(
            store,
            ws,
            by=by or (),
            where=where,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
        )
    emit(rates, fmt, None, "Survey response rates")
