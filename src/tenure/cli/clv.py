"""`tenure clv`: predictive lifetime value (BG/NBD or Pareto/NBD with Gamma-Gamma) and the sBG
renewal model."""

from typing import Annotated

import typer

from tenure.cli.common import (
    ByOption,
    DbOption,
    FormatOption,
    GrainOption,
    Group,
    OutputOption,
    WhereOption,
    emit,
    friendly_errors,
    open_reader,
    parse_date,
    required_date,
    write,
)
from tenure.errors import TenureError

clv_app = typer.Typer(
    cls=Group,
    help="Predictive lifetime value: BG/NBD or Pareto/NBD with Gamma-Gamma, and sBG renewals.",
    no_args_is_help=True,
)
CalibrationOption = Annotated[
    str,
    typer.Option("--calibration-end", help="Last day of the purchases the models learn from."),
]
UnitOption = Annotated[str, typer.Option("--unit", help="day, week or month.")]
ModelOption = Annotated[str, typer.Option("--model", help="bgnbd or pareto.")]


def register(app: typer.Typer) -> None:
    app.add_typer(clv_app, name="clv")


@clv_app.command("fit")
@friendly_errors
def clv_fit(
    calibration_end: CalibrationOption,
    unit: UnitOption = "week",
    model: ModelOption = "bgnbd",
    where: WhereOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
) -> None:
    """Fit the purchase model and Gamma-Gamma; print parameters and log-likelihoods."""
    import json

    with open_reader(db) as ws:
        summary, _ = ws.clv(
            required_date(calibration_end, "--calibration-end"),
            unit=unit,
            model=model,
            where=where,
        )
    if fmt == "json":
        write(json.dumps(summary, indent=1) + "\n")
        return
    if fmt != "table":
        raise TenureError(f"unknown format {fmt!r}; choose table or json")
    import pandas as pd

    rows = [(k, v) for k, v in summary.items() if not isinstance(v, dict)]
    for group in ("purchase_params", "spend_params"):
        rows += [(f"{group.split('_')[0]} {k}", v) for k, v in summary[group].items()]
    emit(pd.DataFrame(rows, columns=["", "value"]), "table", None, "Fitted CLV models")


@clv_app.command("predict")
@friendly_errors
def clv_predict(
    calibration_end: CalibrationOption,
    horizon: Annotated[int, typer.Option("--horizon", help="Time units to predict.")] = 52,
    unit: UnitOption = "week",
    model: ModelOption = "bgnbd",
    discount: Annotated[
        float, typer.Option("--discount", help="Annual discount rate (0.10 = 10%).")
    ] = 0.10,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Per account: P(alive), expected purchases and lifetime value over the horizon, and the
    purchases actually made in that window when the data reaches it."""
    with open_reader(db) as ws:
        summary, predicted = ws.clv(
            required_date(calibration_end, "--calibration-end"),
            unit=unit,
            model=model,
            horizon=horizon,
            annual_discount=discount,
            where=where,
        )
    assert predicted is not None
    emit(
        predicted,
        fmt,
        output,
        f"CLV over {horizon} {unit}s after {summary['calibration_end']} "
        f"({summary['purchase_model']} + gamma_gamma)",
    )


@clv_app.command("renewals")
@friendly_errors
def clv_renewals(
    grain: GrainOption = "month",
    start: Annotated[str | None, typer.Option("--from", help="First cohort (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period (default today).")] = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Periods to project.")] = 12,
    discount: Annotated[
        float, typer.Option("--discount", help="Discount rate per period, for DERL.")
    ] = 0.01,
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Fit the shifted-beta-geometric renewal model to the logo cohorts: projected retention
    and discounted expected residual lifetime (in periods), per segment."""
    with open_reader(db) as ws:
        frame = ws.renewals(
            horizon=horizon,
            discount=discount,
            grain=grain,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
        )
    emit(frame, fmt, output, f"sBG renewal model by {grain} cohort")
