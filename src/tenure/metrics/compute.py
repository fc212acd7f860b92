"""Run metrics: sum the measures each one needs per period and segment in one engine query,
evaluate the catalog's expressions on that, and return a tidy table. Drill-down lists the
per-account rows behind one period's number."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from tenure.engine.calendar import check_grain, floor_date, parse_period, shift
from tenure.engine.segments import SUBSCRIPTION_SEGMENTS, attribute_columns
from tenure.errors import QueryError
from tenure.metrics import (
    compiled,
    engagement,
    lifecycle,
    mrr,
    segments_in_time,
    sources,
    support,
    voice,
)
from tenure.metrics.catalog import Context, Metric, metric, ratio
from tenure.metrics.definitions import Definitions
from tenure.metrics.policy import RevenuePolicy
from tenure.metrics.query import Query
from tenure.metrics.tables import Tables
from tenure.metrics.usage_catalog import definition_of

LOOKBACK = 6  # periods read by trailing windows


@dataclass(frozen=True)
class Source:
    build: Callable[[Query], ir.Table]
    measures: tuple[str, ...]
    per_account: bool = True
    # Rows already keyed by period and segment, for sources whose per-account rows multiply
    # (one per account and period to date) or whose measures are not sums; drill-down still
    # reads `build`.
    by_segment: Callable[[Query], ir.Table] | None = None
    additive: bool = True  # False: quantiles, NULL (not 0) where a period has no rows
    # Per-account rows with the query's segments attached, for sources whose segments are read
    # per period (revenue: paid_plan, ...); `build` is then the same rows without segments.
    segmented: Callable[[Query], ir.Table] | None = None


def _added(rows: Callable[[Query], ir.Table], measures: tuple[str, ...], *dims: str) -> Source:
    """A source whose rows (one per event or account-day, with account_id and period) carry its
    measures as numbers to add up: segments sum the rows directly, and drill-down sums them per
    account (and per those of `dims` a query splits by)."""

    def per_account(query: Query) -> ir.Table:
        found = rows(query)
        keys = query.account_keys(*dims)
        return found.group_by(keys).aggregate(**{m: found[m].sum() for m in measures})

    def by_segment(query: Query) -> ir.Table:
        found = rows(query)  # only the keys it has: event rows also carry page and feature
        return query.with_segments(found.select(*query.account_keys(*dims), *measures))

    return Source(per_account, measures, by_segment=by_segment)


SOURCES: dict[str, Source] = {
    "mrr": Source(
        mrr.account_mrr,
        (*mrr.MEASURES, *segments_in_time.SEGMENT_MEASURES),
        segmented=segments_in_time.segmented_mrr,
    ),
    "scheduled": Source(
        mrr.account_scheduled_churn,
        ("scheduled_churn_mrr",),
        segmented=segments_in_time.segmented_scheduled,
    ),
    "orders": Source(sources.account_orders, sources.ORDER_MEASURES),
    "buyers": Source(
        sources.account_buyers, sources.BUYER_MEASURES, by_segment=sources.segment_buyers
    ),
    "users": Source(sources.account_users, sources.USER_MEASURES, by_segment=sources.segment_users),
    "activity": Source(
        engagement.account_activity,
        engagement.ACTIVITY_MEASURES,
        by_segment=engagement.segment_activity,
    ),
    "sessions": Source(
        engagement.account_sessions,
        engagement.SESSION_MEASURES,
        by_segment=engagement.segment_sessions,
    ),
    "pages": _added(engagement.page_rows, engagement.PAGE_MEASURES, "page"),
    "features": Source(
        engagement.account_features,
        engagement.FEATURE_MEASURES,
        by_segment=engagement.segment_features,
    ),
    "social": _added(engagement.social_rows, engagement.SOCIAL_MEASURES, "share_channel"),
    "funnel": Source(engagement.account_funnel, engagement.FUNNEL_MEASURES),
    "performance": _added(engagement.performance_rows, engagement.PERFORMANCE_MEASURES),
    "voice": Source(voice.account_voice, voice.MEASURES),
    "support": Source(support.account_support, support.MEASURES),
    "ticket_times": Source(
        support.account_ticket_times,
        support.TIME_MEASURES,
        by_segment=support.segment_ticket_times,
        additive=False,
    ),
    "lifecycle": Source(
        lifecycle.user_states, lifecycle.USER_MEASURES, by_segment=lifecycle.user_states_by_segment
    ),
    "account_lifecycle": Source(
        lifecycle.account_states,
        lifecycle.ACCOUNT_MEASURES,
        by_segment=lifecycle.account_states_by_segment,
    ),
    "costs": Source(sources.period_costs, sources.COST_MEASURES, per_account=False),
}


def source_of(measure: str) -> str:
    for name, source in SOURCES.items():
        if measure in source.measures:
            return name
    raise KeyError(measure)  # pragma: no cover - the catalog only names known measures


def _summed(query: Query, measures: Sequence[str]) -> ir.Table:
    """One row per computed period and segment with each measure summed (0 where no rows);
    the calendar x segment grid keeps empty periods, where a ratio is NULL rather than absent.
    With dimensions (query.dims), one row per period, segment and dimension value: sources
    without the dimension are repeated on each of its values."""
    by_source: dict[str, list[str]] = {}
    for m in measures:
        by_source.setdefault(source_of(m), []).append(m)
    keyed = ["period_index", *query.by]
    split = [*keyed, *query.dims]
    parts: list[tuple[ir.Table, bool]] = []  # (rows, has the dimensions)
    quantiles: set[str] = set()
    for name, names in by_source.items():
        source = SOURCES[name]
        assert source.per_account or not query.by, "company-wide sources have no segments"
        if not source.additive:
            quantiles.update(names)
        if source.segmented is not None:
            rows = source.segmented(query)
        elif source.by_segment is not None:
            rows = source.by_segment(query)
        elif source.per_account:
            rows = query.with_segments(source.build(query))
        else:
            rows = source.build(query)
        has_dims = bool(query.dims) and all(d in rows.columns for d in query.dims)
        extra = ["fx_missing"] if "fx_missing" in rows.columns else []
        grouped = rows.group_by(split if has_dims else keyed).aggregate(
            **{m: rows[m].sum() for m in [*names, *extra]}
        )
        parts.append((grouped, has_dims))
    if query.dims and not any(has for _, has in parts):
        raise QueryError(f"none of these metrics can be split by {', '.join(query.dims)}")
    types = {m: t for part, _ in parts for m, t in part.schema().items() if m not in split}
    types["fx_missing"] = ibis.dtype("int64")
    grid = query.calendar.select("period_index")
    if query.by:
        grid = grid.cross_join(segments_in_time.segment_values(query))
    flat = {m for part, has in parts if not has for m in part.columns} | {"fx_missing"}
    union = None
    for part, has in [(grid, False), *parts]:

        def value(m: str, t: ibis.DataType, part: ir.Table = part) -> ir.Value:
            if m in part.columns:
                return part[m].cast(t)
            return (ibis.null() if m in quantiles else ibis.literal(0)).cast(t)

        columns = {m: value(m, t) for m, t in types.items()}
        if query.dims:
            columns["flat"] = ibis.literal(not has)
            for d in query.dims:
                columns[d] = part[d] if has else ibis.null().cast("string")
        aligned = part.select(*keyed, **columns)
        union = aligned if union is None else union.union(aligned)
    assert union is not None
    if not query.dims:
        return union.group_by(keyed).aggregate(**{m: union[m].sum() for m in types})
    summed = union.group_by([*split, "flat"]).aggregate(**{m: union[m].sum() for m in types})
    period = ibis.window(group_by=keyed)
    spread = summed.mutate(
        **{m: summed[m].sum().over(period) for m in types if m in flat and m not in quantiles},
        **{m: summed[m].max().over(period) for m in types if m in flat and m in quantiles},
    )
    return spread.filter(~spread.flat).drop("flat")


def _wide(query: Query, metrics: Sequence[Metric]) -> ir.Table:
    """period_start, segments, and <metric>__numerator / __denominator / __value columns."""
    measures = list(dict.fromkeys(m for x in metrics for m in x.measures))
    local = [m for m in measures if not m.startswith("company_")]
    company = [m.removeprefix("company_") for m in measures if m.startswith("company_")]
    wide = _summed(query, local)
    if company:
        whole = _summed(query.company(), company)
        whole = whole.rename({f"company_{c}": c for c in [*company, "fx_missing"]})
        whole = whole.rename(company_index="period_index")
        wide = wide.join(whole, wide.period_index == whole.company_index).drop("company_index")
        wide = wide.mutate(fx_missing=wide.fx_missing + wide.company_fx_missing)
    periods = query.calendar.select(
        date_index="period_index", period_start="period_start", days="days"
    )
    wide = wide.join(periods, wide.period_index == periods.date_index)
    ctx = Context((*query.by, *query.dims), query.months_per_period, query.policy.gross_margin)
    columns: dict[str, ir.Value] = {}
    for m in metrics:
        numerator = m.numerator(wide, ctx)
        columns[f"{m.name}__numerator"] = numerator
        if m.denominator is None:
            columns[f"{m.name}__value"] = numerator
        else:
            denominator = m.denominator(wide, ctx)
            columns[f"{m.name}__denominator"] = denominator
            columns[f"{m.name}__value"] = ratio(numerator, denominator) * m.scale
    result = wide.select(
        "period_index", "period_start", *query.by, *query.dims, "fx_missing", **columns
    )
    first = query.lookback + 1  # index 0 only opens index 1; lookback periods feed windows
    return (
        result.filter(result.period_index >= first)
        .drop("period_index")
        .order_by("period_start", *query.by, *query.dims)
    )


def make_query(
    tables: Tables,
    metrics: Sequence[Metric],
    *,
    grain: str,
    start: dt.date | None,
    end: dt.date | None,
    by: Sequence[str],
    where: str | None,
    policy: RevenuePolicy | None,
    definitions: Definitions | None = None,
) -> Query:
    check_grain(grain)
    last = end or dt.date.today()
    first = start or shift(floor_date(last, grain), grain, -11)
    attributes, dims = _split_names(tables, metrics, by)
    return Query(
        tables,
        grain,
        first,
        last,
        by=attributes,
        where=where,
        policy=policy or tables.policy,
        lookback=LOOKBACK if any(m.trailing for m in metrics) else 0,
        definitions=definitions or tables.definitions,
        dims=dims,
    )


def _split_names(
    tables: Tables, metrics: Sequence[Metric], by: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Account attributes (and the subscription segments) and fact dimensions among the `by`
    names; an unknown name is an error that lists what each kind allows."""
    attributes = attribute_columns(tables.table("accounts"))
    for name in by:
        if name in attributes:
            continue
        if name in SUBSCRIPTION_SEGMENTS:
            lacking = [m.name for m in metrics if not splits_by_subscription(m)]
            if lacking:
                raise QueryError(
                    f"{name!r} (the subscription's) splits revenue metrics only (MRR, its "
                    f"movements, customer counts and rates); {', '.join(lacking)} cannot be "
                    "split by it: ask for them separately or split by an account attribute"
                )
            continue
        having = [m.name for m in metrics if name in m.dimensions]
        lacking = [m.name for m in metrics if name not in m.dimensions]
        if having and not lacking:
            continue
        if having:
            raise QueryError(
                f"{', '.join(having)} can be split by {name!r} but {', '.join(lacking)} cannot; "
                "ask for them separately"
            )
        dims = sorted({d for m in metrics for d in m.dimensions})
        valid = [*attributes, *SUBSCRIPTION_SEGMENTS]
        raise QueryError(
            f"unknown segment attribute {name!r}; valid: {', '.join(valid)}"
            + (f"; these metrics also split by: {', '.join(dims)}" if dims else "")
        )
    segments = (*attributes, *SUBSCRIPTION_SEGMENTS)
    return (
        tuple(n for n in by if n in segments),
        tuple(n for n in by if n not in segments),
    )


def splits_by_subscription(m: Metric) -> bool:
    """Whether every measure of `m` comes from the subscriptions (or is company-wide), so that
    it can be split by a subscription segment."""
    return all(x.startswith("company_") or source_of(x) in ("mrr", "scheduled") for x in m.measures)


def compute(
    tables: Tables,
    names: Sequence[str],
    *,
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
    policy: RevenuePolicy | None = None,
    definitions: Definitions | None = None,
) -> pd.DataFrame:
    """Metrics per period and segment as a tidy table: metric, period_start, segment columns,
    value, numerator, denominator. Periods run from the one holding `start` to the one holding
    `end` (default: the twelve periods up to today). `frame.attrs` records units, definitions
    and the policy."""
    metrics = [metric(n) for n in dict.fromkeys(names)]
    if not metrics:
        raise QueryError("name at least one metric; `tenure metrics list` shows them")
    query = make_query(
        tables,
        metrics,
        grain=grain,
        start=start,
        end=end,
        by=by,
        where=where,
        policy=policy,
        definitions=definitions,
    )
    what = ("metrics", *(m.name for m in metrics))
    frame = compiled.frame(query, what, lambda: _wide(query, metrics))
    missing = int(frame.pop("fx_missing").sum())
    if missing:
        raise QueryError(_fx_message(query, missing))
    return _tidy(frame, metrics, query)


def _tidy(frame: pd.DataFrame, metrics: Sequence[Metric], query: Query) -> pd.DataFrame:
    keys = ["period_start", *query.by, *query.dims]
    count = len(metrics)

    def stacked(part: str) -> np.ndarray:
        """The `part` column of every metric, one under the other (None where it has none)."""
        nothing = np.full(len(frame), None, dtype=object)
        return np.concatenate(
            [
                _clean(frame[c]) if c in frame else nothing
                for c in (f"{m.name}__{part}" for m in metrics)
            ]
        )

    days = pd.to_datetime(frame["period_start"]).dt.date.to_numpy()
    result = pd.DataFrame(
        {
            "metric": np.repeat([m.name for m in metrics], len(frame)),
            "period_start": np.tile(days, count),
            **{k: np.tile(frame[k].to_numpy(), count) for k in keys[1:]},
            "value": stacked("value"),
            "numerator": stacked("numerator"),
            "denominator": stacked("denominator"),
        }
    )
    result.attrs = {
        "grain": query.grain,
        "units": {m.name: m.unit for m in metrics},
        "definitions": {m.name: definition_of(m, query.definitions) for m in metrics},
        "policy": query.policy.describe(),
        "counting": query.definitions.describe(),
        "reporting_currency": query.tables.reporting_currency,
    }
    partial = query.partial
    if partial is not None:
        result.attrs["partial_period"] = {
            "period_start": partial[0],
            "measured_at": partial[1],
            "note": f"the {query.grain} starting {partial[0]} is not over: its MRR and customer "
            f"counts are those at the end of {partial[1]}, its movements those to that day",
        }
    return result


def _clean(values: pd.Series) -> np.ndarray:
    """The values as objects, NaN and NA as None so that an undefined ratio reads as null
    everywhere."""
    found: np.ndarray = values.to_numpy(dtype=object, copy=True)
    found[pd.isna(found)] = None
    return found


def _fx_message(query: Query, missing: int) -> str:
    fx = query.tables.table("fx_rates")
    have = set(fx.select("currency").distinct().to_pandas()["currency"])
    used: set[str] = set()
    for name in ("subscriptions", "orders", "costs"):
        table = query.tables.table(name)
        used |= set(table.select("currency").distinct().to_pandas()["currency"])
    used.discard(query.tables.reporting_currency)
    lacking = sorted(used - have) or sorted(used)
    return (
        f"{missing} amounts have no exchange rate on or before their date; load fx_rates rows "
        f"for {', '.join(lacking)} into {query.tables.reporting_currency} that start on or "
        f"before {query.computed_first}"
    )


def drill(
    tables: Tables,
    name: str,
    period: str,
    *,
    grain: str = "month",
    by: Sequence[str] = (),
    where: str | None = None,
    policy: RevenuePolicy | None = None,
    dimension: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """The accounts behind one metric in one period, with their share of it (e.g. who churned
    in March and the MRR each one took). `frame.attrs` carries the metric, period, definition,
    unit, and the period's value, numerator and denominator over all of the rows' segments.
    `dimension` (name, value) keeps one value of a fact dimension of the metric (one feature
    of feature_adoption_rate), or of a subscription segment of a revenue metric (one paid
    plan): its rows, and its value, numerator and denominator."""
    m = metric(name)
    if not m.drill_measures:
        raise QueryError(
            f"{name} is company-wide (costs carry no account); drill into customers or "
            "new_customers instead"
        )
    paid = (
        dimension is not None
        and dimension[0] in SUBSCRIPTION_SEGMENTS
        and splits_by_subscription(m)
    )
    if dimension is not None and dimension[0] not in m.dimensions and not paid:
        splits = ", ".join(
            [*m.dimensions, *(SUBSCRIPTION_SEGMENTS if splits_by_subscription(m) else ())]
        )
        splits = splits or "none"
        raise QueryError(f"{name} cannot be split by {dimension[0]!r}; it splits by: {splits}")
    day = parse_period(period, grain)
    split = [*by, dimension[0]] if dimension is not None else list(by)
    query = make_query(
        tables, [m], grain=grain, start=day, end=day, by=split, where=where, policy=policy
    )
    if lifecycle.unit_of(name) is not None:
        found = lifecycle.drill(query, name, day)
        found.attrs = {"metric": name, "period_start": day, "definition": m.definition}
        found.attrs.update(_totals(tables, m, day, grain, where, policy))
        return found
    source = source_of(m.drill_measures[0])
    shown = [x for x in m.drill_measures if source_of(x) == source]
    reader = SOURCES[source]
    if reader.segmented is not None:
        rows = reader.segmented(query)
    else:
        rows = query.with_segments(reader.build(query))
    rows = rows.filter(rows.period_start == day)
    if dimension is not None:
        rows = rows.filter(rows[dimension[0]].cast("string") == dimension[1])
    nonzero = ibis.or_(*[rows[x] != 0 for x in shown])
    # With the FX line, each MRR row adds up on its own: start + fx + movement = end.
    context = [
        c for c in ("movement", "mrr_start", "mrr_fx_impact", "mrr_end") if c in rows.columns
    ]
    names = query.accounts.select(name_account="account_id", name="name")
    rows = rows.filter(nonzero)
    rows = rows.left_join(names, rows.account_id == names.name_account)
    picked = rows.select(
        "account_id", "name", *query.by, *query.dims, *dict.fromkeys([*context, *shown])
    )
    size = picked[shown[0]].abs()
    result: pd.DataFrame = picked.order_by(ibis.desc(size), "account_id").to_pandas()
    definition = definition_of(m, query.definitions)
    result.attrs = {"metric": name, "period_start": day, "definition": definition}
    result.attrs.update(_totals(tables, m, day, grain, where, policy, dimension))
    return result


def _totals(
    tables: Tables,
    m: Metric,
    day: dt.date,
    grain: str,
    where: str | None,
    policy: RevenuePolicy | None,
    dimension: tuple[str, str] | None = None,
) -> dict[str, object]:
    """The period's unit, value, numerator and denominator (None where the metric has none):
    the ratio a drill-down lists the accounts of (of one value of `dimension`, if given)."""
    by = [dimension[0]] if dimension is not None else []
    frame = compute(
        tables, [m.name], grain=grain, start=day, end=day, by=by, where=where, policy=policy
    )
    row = frame[frame["period_start"] == day]
    if dimension is not None:
        row = row[row[dimension[0]].astype("string") == dimension[1]]
    found = row.iloc[0] if len(row) else None
    return {
        "unit": m.unit,
        "value": None if found is None else found["value"],
        "numerator": None if found is None else found["numerator"],
        "denominator": None if found is None or m.denominator is None else found["denominator"],
    }
