"""Customer health (`tenure health`) and churn prediction (`tenure churn`)."""

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from tenure.cli.common import (
    DbOption,
    FormatOption,
    Group,
    HorizonOption,
    OutputOption,
    WhereOption,
    emit,
    friendly_errors,
    open_reader,
    open_writer,
    parse_date,
    write,
)
from tenure.errors import TenureError

churn_app = typer.Typer(
    cls=Group, help="Churn prediction trained on this workspace's history.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command()(health)
    app.add_typer(churn_app, name="churn")


@friendly_errors
def health(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day to score (default today).")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="One account only.")] = None,
    band: Annotated[str | None, typer.Option("--band", help="red, yellow or green.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A health definition (YAML); default ships.")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Scores on every Monday from --from to --as-of.")
    ] = False,
    start: Annotated[str | None, typer.Option("--from", help="First day of --history.")] = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Customer health score (0-100) per account: band, trend against 30 days earlier,
    component scores and the components that pulled it down."""
    if band is not None and band not in ("red", "yellow", "green"):
        raise TenureError(f"unknown band {band!r}; choose red, yellow or green")
    day = parse_date(as_of, "--as-of") or dt.date.today()
    with open_reader(db) as ws:
        if history:
            first = parse_date(start, "--from") or day - dt.timedelta(days=90)
            days = [first + dt.timedelta(days=d) for d in range((day - first).days + 1)]
            mondays = [d for d in days if d.weekday() == 0] or [day]
            frame = ws.health_history(mondays, config=config)
        else:
            frame = ws.health(as_of=day, config=config, where=where)
    if account is not None:
        frame = frame[frame["account_id"] == account]
        if frame.empty:
            raise TenureError(f"account {account!r} is not paying on {day}, or does not exist")
    if band is not None:
        frame = frame[frame["band"] == band]
    if fmt == "table" and not history:
        frame = frame[["account_id", "segment", "health", "band", "trend", "pulled_down_by"]]
    emit(frame, fmt, output, f"Customer health on {day}: {len(frame):,} accounts")


@churn_app.command("train")
@friendly_errors
def churn_train(
    horizon: HorizonOption = 90,
    as_of: Annotated[str | None, typer.Option("--as-of", help="End of the data to use.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
) -> None:
    """Train on past cut-offs with point-in-time features, evaluate on the latest held-out
    window against the health score and recency, store the model."""
    import json

    import pandas as pd

    with open_writer(db) as ws:
        report = ws.train_churn(horizon_days=horizon, as_of=parse_date(as_of, "--as-of"))
    if fmt == "json":
        write(json.dumps(report, indent=1) + "\n")
        return
    rows = [
        {"scorer": name, **{k: v for k, v in report[name].items() if k != "examples"}}
        for name in ("model", "health_score", "recency")
    ]
    title = (
        f"Churn within {horizon} days, held out {report['held_out']} "
        f"({int(report['model']['examples']):,} examples); trained {report['trained_on']}"
    )
    emit(pd.DataFrame(rows), "table", None, title)


@churn_app.command("score")
@friendly_errors
def churn_score(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day to score (default today).")
    ] = None,
    top: Annotated[int | None, typer.Option("--top", help="Only the N riskiest.")] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Churn probability and main drivers of every paying account, riskiest first."""
    with open_reader(db) as ws:
        frame = ws.churn_risk(as_of=parse_date(as_of, "--as-of"))
    if top is not None:
        frame = frame.head(top)
    emit(frame, fmt, output, f"Churn risk: {len(frame):,} accounts")
