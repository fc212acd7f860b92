"""Survey-answer rows: NPS bands, CSAT satisfied, CES positive, per account and period of the
answer (and per survey, touchpoint, survey_channel or language when a query splits by it).

NPS bands are 9-10 promoters, 7-8 passives, 0-6 detractors on 0-10 and on 1-10 alike; answers on
another scale are first mapped linearly onto 0-10. CSAT and CES thresholds are definitions
(`csat_satisfied`, `ces_positive`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.definitions import Definitions, scale_share
from tenure.metrics.query import Query, flag
from tenure.metrics.tables import Tables

MEASURES = (
    "responses",
    "nps_responses",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "csat_score_sum",
    "ces_responses",
    "ces_positive",
    "ces_score_sum",
)
DIMENSIONS = ("survey", "touchpoint", "survey_channel", "language")


def _at_least(rows: ir.Table, rule: str, keyword: str) -> ir.BooleanValue:
    """score meets a threshold rule: `keyword` (top two boxes / above the midpoint) or a share."""
    low, high, score = rows.scale_min, rows.scale_max, rows.score
    if rule == keyword:
        return score >= high - 1 if keyword == "top2" else score > (low + high) / 2
    share = scale_share(rule)
    assert share is not None  # Definitions validated it
    return score >= low + (high - low) * share


def on_ten(rows: ir.Table) -> ir.NumericValue:
    """An answer's score on 0-10: as given on 0-10 and 1-10 scales, mapped linearly from others."""
    return ibis.cases(
        (rows.scale_max == 10, rows.score),
        else_=(rows.score - rows.scale_min) * 10 / (rows.scale_max - rows.scale_min),
    )


BANDS = ("detractor", "passive", "promoter")


def band(rows: ir.Table, definitions: Definitions) -> ir.StringValue:
    """promoter / passive / detractor for each answer, counted as the metrics count them: NPS
    on 0-10 (other scales mapped onto it), CSAT satisfied and CES positive as promoters with the
    bottom two boxes (CSAT) or below the midpoint (CES) as detractors, and custom surveys by
    their share of the scale (>= 0.8 promoter, <= 0.4 detractor). The engine's twin of
    `tenure.text.feedback.bands`, so comments filter by band in the query."""
    low, high, score = rows.scale_min, rows.scale_max, rows.score
    share = (score - low) / (high - low)
    ten = on_ten(rows)
    survey = rows.survey
    promoter = ibis.cases(
        (survey == "nps", ten >= 9),
        (survey == "csat", _at_least(rows, definitions.csat_satisfied, "top2")),
        (survey == "ces", _at_least(rows, definitions.ces_positive, "above_midpoint")),
        else_=share >= 0.8,
    )
    detractor = ibis.cases(
        (survey == "nps", ten < 7),
        (survey == "csat", score <= low + 1),
        (survey == "ces", score < (low + high) / 2),
        else_=share <= 0.4,
    )
    return ibis.cases(
        (promoter, ibis.literal("promoter")),
        (detractor, ibis.literal("detractor")),
        else_=ibis.literal("passive"),
    )


def account_voice(query: Query) -> ir.Table:
    answers = query.facts("survey_responses")
    at = query.local(answers.responded_at)
    rows = query.in_period(answers.mutate(day=at.date(), survey_channel=answers.channel))
    ten = on_ten(rows)
    nps, csat, ces = rows.survey == "nps", rows.survey == "csat", rows.survey == "ces"
    d = query.definitions
    return rows.group_by(query.account_keys(*DIMENSIONS)).aggregate(
        responses=rows.count(),
        nps_responses=flag(nps).sum(),
        nps_promoters=flag(nps & (ten >= 9)).sum(),
        nps_passives=flag(nps & (ten >= 7) & (ten < 9)).sum(),
        nps_detractors=flag(nps & (ten < 7)).sum(),
        csat_responses=flag(csat).sum(),
        csat_satisfied=flag(csat & _at_least(rows, d.csat_satisfied, "top2")).sum(),
        csat_score_sum=ibis.cases((csat, rows.score), else_=0.0).sum(),
        ces_responses=flag(ces).sum(),
        ces_positive=flag(ces & _at_least(rows, d.ces_positive, "above_midpoint")).sum(),
        ces_score_sum=ibis.cases((ces, rows.score), else_=0.0).sum(),
    )


def score_distribution(
    tables: Tables,
    survey: str,
    start: dt.date,
    end: dt.date,
    where: str | None = None,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """How many answers of `survey` gave each score, answered from `start` to `end` (inclusive,
    local days), of the accounts `where` keeps; with `by` (account attributes), per segment."""
    query, rows = _answers(tables, survey, start, end, where, by)
    keys = [*query.by, "score"]
    counted = rows.group_by(keys).aggregate(answers=rows.count()).order_by(keys)
    frame: pd.DataFrame = counted.to_pandas()
    return frame


def score_responses(
    tables: Tables,
    survey: str,
    score: float,
    start: dt.date,
    end: dt.date,
    where: str | None = None,
    segment: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """The answers behind one bar of `score_distribution`: those of `survey` that gave `score`
    (of one segment, `segment` = (account attribute, value as text), when given), newest first,
    each with its account, respondent (user_id), comment and language. `frame.attrs`: the
    numerator (these answers) and denominator (every answer of the survey in the range and
    segment) of the bar's share."""
    by = (segment[0],) if segment is not None else ()
    query, rows = _answers(tables, survey, start, end, where, by)
    if segment is not None:
        rows = rows.filter(rows[segment[0]].cast("string") == segment[1])
    picked = rows.score == score
    totals = rows.aggregate(numerator=flag(picked).sum(), denominator=rows.count()).to_pandas()
    chosen = rows.filter(picked)
    names = query.accounts.select(name_account="account_id", name="name")
    chosen = chosen.left_join(names, chosen.account_id == names.name_account)
    shown = chosen.select(
        "account_id",
        "name",
        *query.by,
        respondent=chosen.user_id,
        responded_at=chosen.responded_at,
        score=chosen.score,
        comment=chosen.comment,
        language=chosen.language,
        response_id=chosen.response_id,
    ).order_by(ibis.desc("responded_at"), "response_id")
    result: pd.DataFrame = shown.to_pandas()
    numerator, denominator = (int(totals[c].iloc[0] or 0) for c in ("numerator", "denominator"))
    within = f" of {segment[0]} {segment[1]}" if segment is not None else ""
    result.attrs = {
        "definition": (
            f"{survey} answers scoring {score:g} / all {survey} answers{within} from {start} "
            f"to {end}"
        ),
        "unit": "percent",
        "value": 100.0 * numerator / denominator if denominator else None,
        "numerator": numerator,
        "denominator": denominator,
    }
    return result


def _answers(
    tables: Tables,
    survey: str,
    start: dt.date,
    end: dt.date,
    where: str | None,
    by: Sequence[str],
) -> tuple[Query, ir.Table]:
    """The answers of `survey` on the local days `start` to `end`, of the accounts `where` keeps,
    with the `by` attributes of each answer's account (NULL for an unknown account)."""
    if end < start:
        raise QueryError(f"the range ends ({end}) before it starts ({start})")
    query = Query(tables, "day", start, end, by=tuple(by), where=where)
    answers = query.facts("survey_responses")
    day = query.local(answers.responded_at).date()
    rows = answers.mutate(answered_on=day)
    rows = rows.filter(rows.survey == survey, rows.answered_on >= start, rows.answered_on <= end)
    return query, query.with_segments(rows, day="answered_on").drop("answered_on")
