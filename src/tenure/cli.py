"""The `tenure` command line. Thin: every command calls the Python API and prints the result.

Heavy imports (Ibis, DuckDB) happen inside commands so that `tenure --help` stays instant.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tenure.errors import TenureError

if TYPE_CHECKING:
    from tenure.workspace import Workspace

app = typer.Typer(
    name="tenure",
    help="Customer-success metrics computed exactly from your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Workspace URL (default $TENURE_DB or duckdb:///tenure.duckdb)."),
]
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Show a TenureError as one line on stderr and exit 2, never as a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TenureError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _workspace(db: str | None) -> Workspace:
    from tenure.workspace import connect

    return connect(db)


@app.command()
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
    db: DbOption = None,
) -> None:
    """Load a file into a table: bad rows are rejected with line, column and reason."""
    with _workspace(db) as ws:
        report = ws.load(
            table, file, mapping=mapping, fmt=fmt, timezone=timezone, rejects_path=rejects
        )
    out.print(report.summary(), highlight=False)
    if report.ignored_columns:
        out.print(
            f"ignored columns (not in the {table} contract): {', '.join(report.ignored_columns)}",
            highlight=False,
        )
    if report.new_attributes:
        out.print(f"new segment attributes: {', '.join(report.new_attributes)}", highlight=False)
    if report.rejects:
        shown = Table("line" if report.line_label == "line" else "row", "column", "value", "reason")
        for r in report.rejects[:10]:
            shown.add_row(str(r.line), r.column, (r.value or "")[:40], r.reason)
        out.print(shown)
        more = report.problems - min(10, len(report.rejects))
        if more > 0:
            out.print(f"... and {more} more", highlight=False)
    if report.rejects_path:
        out.print(f"rejects written to {report.rejects_path}", highlight=False)
    if report.nothing_loaded:
        err.print("error: no row could be loaded; see the rejects above", highlight=False)
        raise typer.Exit(1)


@app.command()
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

    from tenure.data import demo as demo_company

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
    with _workspace(db) as ws, Progress(*columns, console=err, transient=False) as bar:
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
    out.print(summary)
    out.print(
        f"generated in {result.seconds_generate:.1f} s, loaded in {result.seconds_load:.1f} s, "
        f"peak memory {result.peak_memory_mb:,.0f} MB; files in {out_dir}",
        highlight=False,
    )


@app.command()
@friendly_errors
def report(db: DbOption = None) -> None:
    """Print the KPI summary of the workspace."""
    from tenure.report import data_summary, kpi_summary

    with _reader(db) as ws:
        rows = data_summary(ws)
        currency = ws.reporting_currency
        kpis = kpi_summary(ws) if any(r.rows for r in rows if r.table == "subscriptions") else None
    shown = Table(
        "table", "rows", "from", "to", title=f"Tenure workspace (reporting in {currency})"
    )
    for row in rows:
        shown.add_row(row.table, f"{row.rows:,}", row.first or "", row.last or "")
    out.print(shown)
    if kpis is not None:
        months = [str(c)[:7] for c in kpis.columns]
        table = Table("KPI", *months, title=f"Last complete months ({currency})")
        for name, values in kpis.iterrows():
            table.add_row(str(name), *(_cell(v) for v in values))
        out.print(table)


@app.command()
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
        out.print(shown)


@app.command()
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
            out.print(f"{name} (default {default!r}) {text}", highlight=False)
        return
    with _workspace(db) as ws:
        if value is not None:
            ws.set_setting(key, value)
        out.print(f"{key} = {ws.setting(key)}", highlight=False)


@app.command()
@friendly_errors
def loads(db: DbOption = None) -> None:
    """Show the load history with counts."""
    with _workspace(db) as ws:
        history = ws.loads()
    columns = ["loaded_at", "table_name", "inserted", "updated", "unchanged", "rejected"]
    shown = Table(*columns, "source")
    for record in history.to_dict("records"):
        shown.add_row(*(str(record[c])[:19] for c in columns), Path(str(record["source"])).name)
    out.print(shown)


@app.command()
@friendly_errors
def export(
    folder: Annotated[Path, typer.Argument(help="Folder for <table>.parquet files.")],
    db: DbOption = None,
) -> None:
    """Export every table to Parquet, to run metrics on Spark: --db pyspark:///FOLDER."""
    with _reader(db) as ws:
        written = ws.export(folder)
    out.print(f"wrote {len(written)} tables to {folder}", highlight=False)


def _reader(db: str | None) -> Workspace:
    """Open the workspace read-only when it exists, so queries never block a writer."""
    from tenure.engine.connection import default_url, duckdb_path
    from tenure.workspace import connect

    url = db or default_url()
    path = duckdb_path(url)
    return connect(url, read_only=path not in (None, ":memory:") and Path(str(path)).exists())


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    from tenure.engine.calendar import parse_period

    try:
        return parse_period(value, "day")
    except TenureError:
        raise TenureError(
            f"{option} {value!r} is not a date; write 2025-03-01 or 2025-03"
        ) from None


FORMATS = ("table", "csv", "json", "parquet")
GrainOption = Annotated[str, typer.Option("--grain", help="day, week, month, quarter or year.")]
ByOption = Annotated[
    list[str] | None, typer.Option("--by", help="Account attribute to split by (repeatable).")
]
WhereOption = Annotated[
    str | None, typer.Option("--where", help="Filter on account attributes: \"plan = 'pro'\".")
]
FormatOption = Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file (parquet needs one).")
]


def _emit(frame: Any, fmt: str, output: Path | None, title: str) -> None:
    """Print or write a result frame in the chosen format."""
    if fmt not in FORMATS:
        raise TenureError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if output is None:
            raise TenureError("--format parquet writes a file; add --output result.parquet")
        frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(
            output, index=False
        )
        err.print(f"wrote {len(frame):,} rows to {output}", highlight=False)
        return
    if fmt in ("csv", "json"):
        text = (
            frame.to_csv(index=False)
            if fmt == "csv"
            else frame.to_json(orient="records", date_format="iso", default_handler=str, indent=1)
        )
        if output is None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            output.write_text(text, encoding="utf-8")
        return
    shown = Table(*[str(c) for c in frame.columns], title=title)
    for record in frame.itertuples(index=False):
        shown.add_row(*(_cell(v) for v in record))
    out.print(shown)


def _cell(value: Any) -> str:
    from decimal import Decimal

    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (float, Decimal)):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@app.command()
@friendly_errors
def metrics(
    names: Annotated[list[str], typer.Argument(help="Metric names, or `list` for the catalog.")],
    grain: GrainOption = "month",
    start: Annotated[str | None, typer.Option("--from", help="First period (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period (default today).")] = None,
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Compute metrics per period and segment (`tenure metrics list` shows the catalog)."""
    if names == ["list"]:
        import pandas as pd

        from tenure.metrics.catalog import CATALOG

        catalog = pd.DataFrame(
            [(m.name, m.area, m.unit, m.description, m.definition) for m in CATALOG.values()],
            columns=["metric", "area", "unit", "description", "definition"],
        )
        _emit(catalog, fmt, output, "Metric catalog")
        return
    with _reader(db) as ws:
        frame = ws.metrics(
            names,
            grain=grain,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            by=by or (),
            where=where,
        )
    _emit(frame, fmt, output, f"Metrics by {grain} ({frame.attrs['reporting_currency']})")


@app.command()
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
    with _reader(db) as ws:
        frame = ws.drill(name, period, grain=grain, by=by or (), where=where)
    _emit(frame, fmt, output, f"{name}, {frame.attrs['period_start']}: {len(frame):,} accounts")


@app.command()
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
    with _reader(db) as ws:
        frame = ws.cohorts(
            grain=grain,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            by=by or (),
            where=where,
        )
    if fmt != "table":
        _emit(frame, fmt, output, "cohorts")
        return
    column = "retention" if kind == "logos" else "revenue_retention"
    heat = frame.pivot_table(
        index=["cohort", *(by or []), "cohort_size"], columns="offset", values=column
    ).reset_index()
    heat.columns = [str(c) for c in heat.columns]
    _emit(heat, "table", None, f"{kind} retention % by cohort and periods since joining")


@app.command()
@friendly_errors
def funnel(
    steps: Annotated[list[str], typer.Argument(help="Event names in order, e.g. visit signup.")],
    window: Annotated[
        float, typer.Option("--window", help="Days after the first step to complete the rest.")
    ] = 30.0,
    grain: GrainOption = "month",
    start: Annotated[str | None, typer.Option("--from", help="First period (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period (default today).")] = None,
    by: ByOption = None,
    where: WhereOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Ordered funnel: of the people who did the first step in each period, how many did each
    later step in order within the window."""
    with _reader(db) as ws:
        frame = ws.funnel(
            steps,
            window_days=window,
            grain=grain,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            by=by or (),
            where=where,
        )
    _emit(frame, fmt, output, f"Funnel {' > '.join(steps)} within {window:g} days")


@app.command()
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
    with _reader(db) as ws:
        points, summary = ws.survival(as_of=_date(as_of, "--as-of"), by=by or (), where=where)
    if curve:
        _emit(points, fmt, output, "Kaplan-Meier survival (duration in days)")
    else:
        _emit(summary, fmt, output, "Account lifetime (Kaplan-Meier)")


clv_app = typer.Typer(
    help="Predictive lifetime value: BG/NBD or Pareto/NBD with Gamma-Gamma, and sBG renewals.",
    no_args_is_help=True,
)
app.add_typer(clv_app, name="clv")
CalibrationOption = Annotated[
    str,
    typer.Option("--calibration-end", help="Last day of the purchases the models learn from."),
]
UnitOption = Annotated[str, typer.Option("--unit", help="day, week or month.")]
ModelOption = Annotated[str, typer.Option("--model", help="bgnbd or pareto.")]


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

    with _reader(db) as ws:
        summary, _ = ws.clv(
            _required_date(calibration_end, "--calibration-end"),
            unit=unit,
            model=model,
            where=where,
        )
    if fmt == "json":
        sys.stdout.write(json.dumps(summary, indent=1) + "\n")
        return
    if fmt != "table":
        raise TenureError(f"unknown format {fmt!r}; choose table or json")
    import pandas as pd

    rows = [(k, v) for k, v in summary.items() if not isinstance(v, dict)]
    for group in ("purchase_params", "spend_params"):
        rows += [(f"{group.split('_')[0]} {k}", v) for k, v in summary[group].items()]
    _emit(pd.DataFrame(rows, columns=["", "value"]), "table", None, "Fitted CLV models")


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
    with _reader(db) as ws:
        summary, predicted = ws.clv(
            _required_date(calibration_end, "--calibration-end"),
            unit=unit,
            model=model,
            horizon=horizon,
            annual_discount=discount,
            where=where,
        )
    assert predicted is not None
    _emit(
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
    with _reader(db) as ws:
        frame = ws.renewals(
            horizon=horizon,
            discount=discount,
            grain=grain,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            by=by or (),
            where=where,
        )
    _emit(frame, fmt, output, f"sBG renewal model by {grain} cohort")


feedback_app = typer.Typer(
    help="Survey comments in any language: themes, detractor themes, search, quality.",
    no_args_is_help=True,
)
app.add_typer(feedback_app, name="feedback")
SurveyOption = Annotated[
    str | None, typer.Option("--survey", help="nps, csat, ces or custom (default: all).")
]


@feedback_app.command("themes")
@friendly_errors
def feedback_themes(
    start: Annotated[str | None, typer.Option("--from", help="First period (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period (default today).")] = None,
    by: ByOption = None,
    where: WhereOption = None,
    survey: SurveyOption = None,
    phrases: Annotated[
        bool, typer.Option("--phrases", help="Key phrases found in the text, not themes.")
    ] = False,
    minimum: Annotated[int, typer.Option("--min", help="Fewest mentions to show.")] = 2,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Themes (or key phrases) of the comments, with mean sentiment, and a z-score of how much
    more detractors than promoters mention each (log-odds with an informative prior)."""
    from tenure.text.feedback import theme_report

    with _reader(db) as ws:
        analysed = ws.feedback(
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            by=by or (),
            where=where,
            survey=survey,
        )
    report = theme_report(analysed, by=by or (), phrases=phrases, minimum=minimum)
    _emit(
        report,
        fmt,
        output,
        f"Feedback {'phrases' if phrases else 'themes'}: {len(analysed):,} comments (z > 0: detractors)",
    )


@feedback_app.command("search")
@friendly_errors
def feedback_search(
    text: Annotated[str, typer.Argument(help="Text to find in comments (any case).")],
    start: Annotated[str | None, typer.Option("--from", help="First period (a date).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last period (default today).")] = None,
    where: WhereOption = None,
    survey: SurveyOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Comments that contain TEXT, with their account, score, language, sentiment and themes."""
    from tenure.text.feedback import COMMENT_COLUMNS, require_text

    with _reader(db) as ws:
        frame = ws.feedback(
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            where=where,
            survey=survey,
            contains=require_text(text),
        )
    shown = frame[COMMENT_COLUMNS].copy()
    shown["themes"] = shown["themes"].map(", ".join)
    _emit(shown, fmt, output, f"{len(shown):,} comments containing {text!r}")


@feedback_app.command("quality")
@friendly_errors
def feedback_quality(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Accuracy of the sentiment scorers against score bands: on Tenure's hand-labelled
    hold-out and (cross-validated) on this workspace's promoter and detractor comments."""
    from tenure.text.feedback import quality

    with _reader(db) as ws:
        frame = quality(ws)
    _emit(frame, fmt, None, "Sentiment accuracy (% of comments whose sign matches the label)")


@app.command()
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
    day = _date(as_of, "--as-of") or dt.date.today()
    with _reader(db) as ws:
        if history:
            first = _date(start, "--from") or day - dt.timedelta(days=90)
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
    _emit(frame, fmt, output, f"Customer health on {day}: {len(frame):,} accounts")


churn_app = typer.Typer(
    help="Churn prediction trained on this workspace's history.", no_args_is_help=True
)
app.add_typer(churn_app, name="churn")
HorizonOption = Annotated[int, typer.Option("--horizon", help="Days ahead (default 90).")]


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

    with _workspace(db) as ws:
        report = ws.train_churn(horizon_days=horizon, as_of=_date(as_of, "--as-of"))
    if fmt == "json":
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
        return
    rows = [
        {"scorer": name, **{k: v for k, v in report[name].items() if k != "examples"}}
        for name in ("model", "health_score", "recency")
    ]
    title = (
        f"Churn within {horizon} days, held out {report['held_out']} "
        f"({int(report['model']['examples']):,} examples); trained {report['trained_on']}"
    )
    _emit(pd.DataFrame(rows), "table", None, title)


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
    with _reader(db) as ws:
        frame = ws.churn_risk(as_of=_date(as_of, "--as-of"))
    if top is not None:
        frame = frame.head(top)
    _emit(frame, fmt, output, f"Churn risk: {len(frame):,} accounts")


@app.command()
@friendly_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    app_db: Annotated[
        str | None,
        typer.Option(
            "--app-db", help="App store URL (default $TENURE_APP_DB or sqlite:///tenure-app.db)."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the public survey forms, and run the
    automations every minute."""
    import uvicorn

    from tenure.api.app import create_app
    from tenure.app.store import Store

    ws = _workspace(db)
    store = Store(app_db)
    err.print(f"serving {ws.url} at http://{host}:{port} (API docs at /docs)", highlight=False)
    api = create_app(ws, store, base_url=f"http://{host}:{port}", schedule_seconds=60)
    uvicorn.run(api, host=host, port=port)


keys_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@friendly_errors
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key.")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or admin.")] = "viewer",
    app_db: Annotated[str | None, typer.Option("--app-db", help="App store URL.")] = None,
) -> None:
    """Create an API key; it is shown once."""
    from tenure.app.keys import create_key
    from tenure.app.store import Store

    key = create_key(Store(app_db), name, role)
    sys.stdout.write(key + "\n")


@keys_app.command("revoke")
@friendly_errors
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The name given at creation.")],
    app_db: Annotated[str | None, typer.Option("--app-db", help="App store URL.")] = None,
) -> None:
    """Revoke every active key of that name."""
    from tenure.app.keys import revoke_key
    from tenure.app.store import Store

    out.print(f"revoked {revoke_key(Store(app_db), name)} key(s)", highlight=False)


goals_app = typer.Typer(help="Goals: targets, progress and status.", no_args_is_help=True)
app.add_typer(goals_app, name="goals")
AppDbOption = Annotated[str | None, typer.Option("--app-db", help="App store URL.")]


def _goal_table(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    columns = [
        "id",
        "name",
        "kind",
        "owner",
        "value",
        "target_value",
        "progress",
        "expected",
        "status",
        "due_date",
    ]
    return pd.DataFrame(rows, columns=columns)


@goals_app.command("list")
@friendly_errors
def goals_list(
    fmt: FormatOption = "table", app_db: AppDbOption = None, db: DbOption = None
) -> None:
    """Every goal with its current value, progress, expected progress and status."""
    from tenure.app import goals
    from tenure.app.store import Store

    rows, _ = goals.page(Store(app_db), limit=10_000)
    with _reader(db) as ws:
        shown = [goals.view(g, ws) for g in rows]
    _emit(_goal_table(shown), fmt, None, f"{len(shown)} goals")


@goals_app.command("add")
@friendly_errors
def goals_add(
    name: Annotated[str, typer.Argument(help="What the goal is.")],
    kind: Annotated[
        str, typer.Option("--kind", help="metric, number, boolean or tasks.")
    ] = "metric",
    metric: Annotated[str | None, typer.Option("--metric", help="For a metric goal.")] = None,
    start_value: Annotated[float, typer.Option("--start-value", help="Where it starts.")] = 0.0,
    target: Annotated[float, typer.Option("--target", help="Where it should get to.")] = 1.0,
    start: Annotated[
        str | None, typer.Option("--start", help="Start date (default today).")
    ] = None,
    due: Annotated[str | None, typer.Option("--due", help="Due date.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Who owns it.")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", help="A task (repeatable).")] = None,
    display: Annotated[str, typer.Option("--display", help="bar, pie or thermometer.")] = "bar",
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Create a goal."""
    from tenure.app import goals
    from tenure.app.store import Store

    begin = _date(start, "--start") or dt.date.today()
    end = _date(due, "--due")
    if end is None:
        raise TenureError("a goal needs --due YYYY-MM-DD")
    fields = {
        "name": name,
        "kind": kind,
        "metric": metric,
        "start_value": start_value,
        "target_value": target,
        "start_date": begin,
        "due_date": end,
        "owner": owner,
        "tasks": [{"title": t, "done": False} for t in task or []],
        "display": display,
    }
    with _reader(db) as ws:
        shown = goals.create(Store(app_db), ws, fields)
    _emit(_goal_table([shown]), "table", None, f"goal {shown['id']} created")


@goals_app.command("set")
@friendly_errors
def goals_set(
    goal_id: Annotated[int, typer.Argument(help="The goal's id.")],
    value: Annotated[float | None, typer.Option("--value", help="A number goal's value.")] = None,
    done: Annotated[
        bool | None, typer.Option("--done/--not-done", help="A true/false goal.")
    ] = None,
    task_done: Annotated[
        list[int] | None, typer.Option("--task-done", help="Tick task N (1-based, repeatable).")
    ] = None,
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Update a goal kept by hand: its value, done flag or tasks."""
    from tenure.app import goals
    from tenure.app.store import Store

    store = Store(app_db)
    changes: dict[str, Any] = {}
    if value is not None:
        changes["current_value"] = value
    if done is not None:
        changes["done"] = done
    if task_done:
        tasks = [dict(t) for t in goals.get(store, goal_id).tasks]
        for number in task_done:
            if not 1 <= number <= len(tasks):
                raise TenureError(f"task {number} does not exist; the goal has {len(tasks)}")
            tasks[number - 1]["done"] = True
        changes["tasks"] = tasks
    with _reader(db) as ws:
        shown = goals.update(store, ws, goal_id, changes)
    _emit(_goal_table([shown]), "table", None, f"goal {goal_id}")


surveys_app = typer.Typer(help="Surveys sent by signed links.", no_args_is_help=True)
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
    from tenure.app.store import Store
    from tenure.app.surveys import response_rates

    with _reader(db) as ws:
        rates = response_rates(
            Store(app_db),
            ws,
            by=by or (),
            where=where,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
        )
    _emit(rates, fmt, None, "Survey response rates")


automations_app = typer.Typer(help="When-then automations.", no_args_is_help=True)
app.add_typer(automations_app, name="automations")


@automations_app.command("add")
@friendly_errors
def automations_add(
    path: Annotated[
        Path, typer.Argument(help="A rule in YAML: name, trigger, conditions, actions.")
    ],
    app_db: AppDbOption = None,
) -> None:
    """Create a rule from a YAML file."""
    import yaml

    from tenure.app.automations import create_rule
    from tenure.app.store import Store

    try:
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TenureError(f"cannot read {path}: {exc}") from None
    if not isinstance(rule, dict) or "name" not in rule:
        raise TenureError(f"{path}: expected a mapping with name, trigger, conditions, actions")
    number = create_rule(
        Store(app_db),
        str(rule["name"]),
        rule.get("trigger") or {},
        rule.get("conditions") or [],
        rule.get("actions") or [],
    )
    out.print(f"rule {number} created", highlight=False)


@automations_app.command("run")
@friendly_errors
def automations_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would fire.")] = False,
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Evaluate every enabled rule once and deliver what is due (what `tenure serve` does every
    minute)."""
    import pandas as pd

    from tenure.app.automations import run
    from tenure.app.store import Store

    with _reader(db) as ws:
        report = run(Store(app_db), ws, dry_run=dry_run)
    fired = pd.DataFrame(report.fired, columns=["rule_id", "subject", "window"])
    _emit(
        fired,
        "table",
        None,
        f"{'would fire' if dry_run else 'fired'}: {len(fired)}; sent {report.sent}, retrying {report.retrying}, dead {report.dead}",
    )


def _required_date(value: str, option: str) -> dt.date:
    day = _date(value, option)
    assert day is not None
    return day


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
