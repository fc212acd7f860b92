"""`tenure feedback`: themes, detractor themes, search and scorer quality of survey comments."""

from typing import Annotated

import typer

from tenure.cli.common import (
    ByOption,
    DbOption,
    EndOption,
    FormatOption,
    Group,
    OutputOption,
    StartOption,
    WhereOption,
    emit,
    friendly_errors,
    open_reader,
    parse_date,
)

feedback_app = typer.Typer(
    cls=Group,
    help="Survey comments in any language: themes, detractor drivers, search, quality.",
    no_args_is_help=True,
)
SurveyOption = Annotated[
    str | None, typer.Option("--survey", help="nps, csat, ces or custom (default: all).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")


@feedback_app.command("themes")
@friendly_errors
def feedback_themes(
    start: StartOption = None,
    end: EndOption = None,
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

    with open_reader(db) as ws:
        analysed = ws.feedback(
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
            survey=survey,
        )
    report = theme_report(analysed, by=by or (), phrases=phrases, minimum=minimum)
    emit(
        report,
        fmt,
        output,
        f"Feedback {'phrases' if phrases else 'themes'}: {len(analysed):,} comments (z > 0: detractors)",
    )


@feedback_app.command("search")
@friendly_errors
def feedback_search(
    text: Annotated[str, typer.Argument(help="Text to find in comments (any case).")],
    start: StartOption = None,
    end: EndOption = None,
    where: WhereOption = None,
    survey: SurveyOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Comments that contain TEXT, with their account, score, language, sentiment and themes."""
    from tenure.text.feedback import COMMENT_COLUMNS, require_text

    with open_reader(db) as ws:
        frame = ws.feedback(
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            where=where,
            survey=survey,
            contains=require_text(text),
        )
    shown = frame[COMMENT_COLUMNS].copy()
    shown["themes"] = shown["themes"].map(", ".join)
    emit(shown, fmt, output, f"{len(shown):,} comments containing {text!r}")


@feedback_app.command("quality")
@friendly_errors
def feedback_quality(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Per language: sentiment accuracy (% of comments whose sign matches the label) by the
    lexicon, the model learned on this workspace and Tenure's scorer, and theme agreement with
    the English original (%), on the parallel set shipped with Tenure (development and held-out
    halves, eight languages), the hand-labelled hold-out and this workspace's promoter and
    detractor comments (cross-validated)."""
    from tenure.text.feedback import quality

    with open_reader(db) as ws:
        frame = quality(ws)
    if fmt == "table":
        frame = frame.round(1)
    emit(frame, fmt, None, "Feedback quality per language (%)")


@feedback_app.command("drivers")
@friendly_errors
def feedback_drivers(
    start: StartOption = None,
    end: EndOption = None,
    by: ByOption = None,
    where: WhereOption = None,
    grain: Annotated[
        str | None,
        typer.Option("--grain", help="week, month, quarter or year (default: the whole range)."),
    ] = None,
    survey: Annotated[
        str, typer.Option("--survey", help="nps (default), csat, ces or custom.")
    ] = "nps",
    kind: Annotated[
        str | None, typer.Option("--kind", help="theme or phrase (default: both).")
    ] = None,
    minimum: Annotated[int, typer.Option("--min", help="Fewest mentions to show.")] = 2,
    top: Annotated[int, typer.Option("--top", help="Most terms per segment and period.")] = 10,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Detractor drivers: the themes and phrases that separate detractors from promoters, by a
    log-odds z-score with an informative Dirichlet prior ("Fightin' Words"; z > 0: detractors),
    per segment and period, with the response ids of the comments behind each."""
    from tenure.errors import TenureError
    from tenure.text.feedback import detractor_drivers

    if kind not in (None, "theme", "phrase"):
        raise TenureError("--kind: theme or phrase")
    with open_reader(db) as ws:
        frame = detractor_drivers(
            ws,
            start=parse_date(start, "--from"),
            end=parse_date(end, "--to"),
            by=by or (),
            where=where,
            grain=grain,
            survey=survey,
            minimum=minimum,
        )
    if kind is not None:
        frame = frame[frame["kind"] == kind]
    keys = [*(by or ()), *(["period"] if grain else [])]
    frame = frame.groupby(keys, dropna=False, sort=False).head(top) if keys else frame.head(top)
    shown = frame.copy()
    if fmt == "table":  # the ids in full go to csv and json
        shown["comment_ids"] = shown["comment_ids"].map(
            lambda ids: " ".join(ids[:3]) + (f" +{len(ids) - 3}" if len(ids) > 3 else "")
        )
    else:
        shown["comment_ids"] = shown["comment_ids"].map(" ".join)
    emit(shown, fmt, output, f"Detractor drivers ({survey}): z > 0 separates detractors")
