"""The account snapshot: one precomputed row per account for the Accounts worklist.

Scoring health and churn risk for every account on every request is slow, so `refresh` builds
the rows once (after a load, or on a schedule) into the DuckDB table `account_snapshot`, and
`read` filters, searches, sorts and pages that table in the engine. Every figure comes from the
existing computations: MRR from the revenue catalog's per-account MRR, health from
`Workspace.health`, churn risk from the stored churn model on the same point-in-time features.
Like those, a snapshot `as_of` a day describes the instant that day begins (local time).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from tenure.data import loader
from tenure.engine.calendar import floor_date, shift
from tenure.engine.filters import parse_filter
from tenure.errors import QueryError, TenureError
from tenure.metrics.account_features import account_features
from tenure.metrics.mrr import account_mrr, paying_spells, scheduled_churn
from tenure.metrics.query import MONEY, Query, convert, flag
from tenure.models.health import HealthModel

SNAPSHOT_TABLE = "account_snapshot"
INFO_TABLE = "account_snapshot_info"  # one row: what the snapshot was built from
# Per account and month: MRR over the twelve months to the snapshot's, for the account page.
HISTORY_TABLE = "account_mrr_history"
HISTORY_MONTHS = 12
BANDS = ("red", "yellow", "green")

_MONEY = pa.decimal128(MONEY.precision or 18, MONEY.scale or 6)
# One health component of one account: its score (0-100), weight, and the feature it scores in
# words. A list rather than a column per component: the health model's components are
# configurable, the snapshot's columns are not.
COMPONENT = pa.struct(
    [
        ("component", pa.string()),
        ("score", pa.float64()),
        ("weight", pa.float64()),
        ("measure", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("name", pa.string()),
        ("owner", pa.string()),
        ("paid_plan", pa.string()),
        ("mrr", _MONEY),
        ("arr", _MONEY),
        ("paying", pa.bool_()),
        ("next_renewal", pa.date32()),
        ("scheduled_churn_on", pa.date32()),
        ("health", pa.float64()),
        ("band", pa.string()),
        ("trend", pa.float64()),
        ("health_drivers", pa.list_(pa.string())),
        ("health_components", pa.list_(COMPONENT)),
        ("churn_probability", pa.float64()),
        ("churn_drivers", pa.list_(pa.string())),
        ("last_activity", pa.timestamp("us")),
        ("open_tickets", pa.int64()),
        ("last_nps", pa.float64()),
        ("last_nps_at", pa.timestamp("us")),
        ("refreshed_at", pa.timestamp("us")),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
HISTORY_SCHEMA = pa.schema(
    [("account_id", pa.string()), ("period_start", pa.date32()), ("value", _MONEY)]
)
SORTABLE: tuple[str, ...] = tuple(f.name for f in SCHEMA if not pa.types.is_list(f.type))


# -- phrases ------------------------------------------------------------------------------------
def _num(values: pd.Series, digits: int = 0) -> pd.Series:
    rounded = values.round(digits)
    text = rounded.map(lambda v: f"{v:,.{digits}f}")  # elementwise formatting, no row logic
    return text.astype(object)


def _count(values: pd.Series, one: str, many: str, tail: str = "") -> pd.Series:
    noun = _either(values.round() == 1, one, many)
    result: pd.Series = _num(values) + " " + noun + tail
    return result


def _either(condition: pd.Series, yes: pd.Series | str, no: pd.Series | str) -> pd.Series:
    return pd.Series(np.where(condition, yes, no), index=condition.index, dtype=object)


def _change(values: pd.Series, what: str, window: str, unknown: str) -> pd.Series:
    pct = (values * 100).abs()
    words = _either(values < 0, f"{what} down ", f"{what} up ") + _num(pct) + f"% in {window}"
    return words.where(values.notna(), unknown)


def _nps(values: pd.Series) -> pd.Series:
    kind = _either(values >= 9, " (promoter)", _either(values >= 7, " (passive)", " (detractor)"))
    return ("NPS " + _num(values) + kind).where(values.notna(), "no NPS answer in 180 days")


# What each account feature (tenure.metrics.account_features) means, in words, given its value.
PHRASES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "mrr": lambda v: "MRR " + _num(v),
    "mrr_growth_90d": lambda v: _change(v, "MRR", "90 days", "no MRR 90 days ago"),
    "tenure_days": lambda v: "customer for " + _count(v, "day", "days"),
    "active_days_30d": lambda v: "active on " + _count(v, "day", "days", " of the last 30"),
    "active_users_30d": lambda v: _count(v, "active user", "active users", " in 30 days"),
    "users": lambda v: _count(v, "user", "users"),
    "breadth_30d": lambda v: (_num(v * 100) + "% of users active in 30 days").where(
        v.notna(), "no users"
    ),
    "depth_30d": lambda v: (_num(v * 100) + "% of core features used in 30 days").where(
        v.notna(), "no core features defined"
    ),
    "events_30d": lambda v: _count(v, "event", "events", " in 30 days"),
    "events_per_user_30d": lambda v: (_num(v, 1) + " events per user in 30 days").where(
        v.notna(), "no users"
    ),
    "usage_trend": lambda v: _change(v - 1, "usage", "30 days", "no usage"),
    "days_since_active": lambda v: ("no activity for " + _count(v, "day", "days")).where(
        v.notna(), "never active"
    ),
    "nps_180d": _nps,
    "csat_180d": lambda v: ("CSAT " + _num(v * 100) + "%").where(
        v.notna(), "no CSAT answer in 180 days"
    ),
    "tickets_30d": lambda v: _count(v, "ticket", "tickets", " in 30 days"),
    "tickets_90d": lambda v: _count(v, "ticket", "tickets", " in 90 days"),
    "open_tickets": lambda v: _count(v, "ticket", "tickets", " open"),
    "refunds_90d": lambda v: _count(v, "refund", "refunds", " in 90 days"),
    "cancel_pending": lambda v: _either(v > 0, "cancellation pending", "no cancellation"),
}


def phrase_table(features: pd.DataFrame) -> pd.DataFrame:
    """Each feature of each account (rows of account_features) in words, indexed by account."""
    indexed = features.set_index("account_id")
    return pd.DataFrame(
        {name: say(indexed[name].astype(float)) for name, say in PHRASES.items()},
        index=indexed.index,
    )


def _in_words(codes: pd.Series, phrases: pd.DataFrame, of: dict[str, str]) -> list[list[str]]:
    """Comma-separated driver codes per account (index: account_id) -> their phrases; `of`
    maps a code to its feature (health components name a feature)."""
    table = phrases.reindex(codes.index)
    result: list[list[str]] = []
    for account, text in codes.items():
        names = [of.get(c.strip(), c.strip()) for c in str(text or "").split(",") if c.strip()]
        result.append([str(table.at[account, n]) for n in names if n in table.columns])
    return result


def _components(
    health: pd.DataFrame, phrases: pd.DataFrame, model: HealthModel
) -> list[list[dict[str, Any]] | None]:
    """Each scored account's health components (rows of `health`, from `score_features`): name,
    score, weight and the scored feature in words, in the order the model lists them."""
    table = phrases.reindex(health.index)
    segment = health["segment"].to_numpy() if "segment" in health.columns else np.array([])
    result: list[list[dict[str, Any]] | None] = [None] * len(health)
    for part in model.segments:
        rows = np.flatnonzero(segment == part.name)
        for i in rows:
            result[i] = []
        for c in part.components:
            column = f"score_{c.name}"
            scores = health[column].to_numpy(dtype=float) if column in health else None
            words = table[c.feature].to_numpy() if c.feature in table.columns else None
            for i in rows:
                score = None if scores is None or np.isnan(scores[i]) else float(scores[i])
                measure = None if words is None or pd.isna(words[i]) else str(words[i])
                entry = {
                    "component": c.name,
                    "score": score,
                    "weight": c.weight,
                    "measure": measure,
                }
                result[i].append(entry)  # type: ignore[union-attr]
    return result


# -- engine parts ---------------------------------------------------------------------------------
class _SubscriptionsAsAccounts:
    """The workspace with each subscription standing for its own account, so that the revenue
    catalog's paying spells come out per subscription (same trial, cancellation, discount and
    currency rules) and can be joined back to their plan and billing interval."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def table(self, name: str) -> ir.Table:
        table: ir.Table = self._ws.table(name)
        if name == "subscriptions":
            return table.mutate(account_id=table.subscription_id)
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


def _next_boundary(
    anchor: ir.DateValue, months: ir.IntegerValue, days: ir.IntegerValue, on_or_after: Any
) -> ir.DateValue:
    """The first billing-period start on or after `on_or_after`, for periods of `months` months
    (or, where that is NULL, of `days` days) counted from `anchor`."""
    target = on_or_after
    elapsed_months = (target.year() - anchor.year()) * 12 + (target.month() - anchor.month())
    k = ibis.greatest((elapsed_months / months).ceil().cast("int64"), 0)
    by_month = (anchor + (k * months).as_interval("M")).cast("date")
    by_month = ibis.cases(
        (by_month < target, (anchor + ((k + 1) * months).as_interval("M")).cast("date")),
        else_=by_month,
    )
    elapsed_days = target.delta(anchor, unit="day")
    j = ibis.greatest((elapsed_days / days).ceil().cast("int64"), 0)
    by_day = (anchor + (j * days).as_interval("D")).cast("date")
    return ibis.cases((months.notnull(), by_month), else_=by_day)


def _subscription_terms(ws: Any, day: dt.date) -> ir.Table:
    """Per account paying at the start of `day`: paid_plan (the highest-MRR subscription being
    paid for) and next_renewal (the soonest renewal of a subscription not being cancelled)."""
    instant = ibis.literal(dt.datetime.combine(day, dt.time()))
    query = Query(_SubscriptionsAsAccounts(ws), "day", day, day, policy=ws.policy)
    spells = paying_spells(query)
    spells = spells.filter(
        spells.pay_from < instant, spells.pay_to.isnull() | (spells.pay_to >= instant)
    )
    rated = query.with_rate(
        spells.mutate(rate_day=ibis.literal(day - dt.timedelta(days=1))), "rate_day"
    )
    rated = rated.select(
        spell_id="account_id", pay_from="pay_from", sub_mrr=convert(rated.monthly, rated.rate)
    )
    subs = ws.table("subscriptions")
    s = rated.join(subs, rated.spell_id == subs.subscription_id)
    unit, period = s.billing_unit, s.billing_period
    months = ibis.cases((unit == "year", period * 12), (unit == "month", period), else_=None)
    days = ibis.cases((unit == "week", period * 7), (unit == "day", period), else_=None)
    anchor = s.pay_from.date()  # billing starts when the trial ends
    today = ibis.literal(day)
    renewal = _next_boundary(anchor, months.cast("int64"), days.cast("int64"), today)
    cancelling = s.canceled_at.notnull()
    ended = query.local(s.ended_at).date()
    renews = ~cancelling & (s.ended_at.isnull() | (ended > renewal))
    rank = ibis.row_number().over(
        group_by=s.account_id, order_by=[ibis.desc(s.sub_mrr), s.subscription_id]
    )
    s = s.mutate(
        rank=rank,
        renewal=ibis.cases((renews, renewal), else_=None),
    )
    return s.group_by(t_account=s.account_id).aggregate(
        paid_plan=ibis.cases((s["rank"] == 0, s.plan), else_=None).max(),
        next_renewal=s.renewal.min(),
    )


def _account_rows(ws: Any, day: dt.date) -> pd.DataFrame:
    """Every account with its attributes, MRR, subscription terms and latest facts, in one
    engine query."""
    instant = ibis.literal(dt.datetime.combine(day, dt.time()))
    before = day - dt.timedelta(days=1)  # the day whose end is the snapshot's instant
    query = Query(
        ws, "day", before, before, policy=ws.policy, definitions=ws.definitions, as_of=day
    )
    accounts = ws.table("accounts")
    null_text = ibis.null().cast("string")
    rows = accounts.select(
        "account_id",
        name=accounts["name"],
        owner=accounts["owner"].cast("string") if "owner" in accounts.columns else null_text,
    )

    mrr = account_mrr(query)
    mrr = mrr.filter(mrr.period_start == before).select(m_account="account_id", mrr="mrr_end")

    events = ws.table("events")
    events = events.filter(events.account_id.notnull(), query.local(events.occurred_at) < instant)
    activity = events.group_by(e_account="account_id").aggregate(
        last_activity=events.occurred_at.max()
    )

    tickets = ws.table("tickets")
    open_now = (
        (query.local(tickets.opened_at) < instant)
        & (tickets.status != "abandoned")
        & (tickets.resolved_at.isnull() | (query.local(tickets.resolved_at) >= instant))
    )
    support = (
        tickets.filter(tickets.account_id.notnull())
        .group_by(k_account="account_id")
        .aggregate(open_tickets=flag(open_now).sum())
    )

    answers = ws.table("survey_responses")
    nps = answers.filter(
        answers.survey == "nps",
        answers.account_id.notnull(),
        query.local(answers.responded_at) < instant,
    )
    voice = nps.group_by(v_account="account_id").aggregate(
        last_nps=nps.score.argmax(nps.responded_at), last_nps_at=nps.responded_at.max()
    )

    terms = _subscription_terms(ws, day)
    # The revenue catalog's rule (scheduled_churn_mrr): every stretch still to run has an end.
    ending = scheduled_churn(query)
    ending = ending.filter(ending.period_start == before).select(
        c_account="account_id", scheduled_churn_on=ending.churn_on.date()
    )
    for part, key in (
        (mrr, "m_account"),
        (terms, "t_account"),
        (ending, "c_account"),
        (activity, "e_account"),
        (support, "k_account"),
        (voice, "v_account"),
    ):
        rows = rows.left_join(part, rows.account_id == part[key]).drop(key)
    rows = rows.mutate(
        mrr=rows.mrr.fill_null(ibis.literal(Decimal(0), type=MONEY)).cast(MONEY),
        open_tickets=rows.open_tickets.fill_null(0).cast("int64"),
    )
    frame: pd.DataFrame = rows.order_by("account_id").to_pandas()
    return frame


def mrr_history(ws: Any, *, as_of: dt.date | None = None) -> pd.DataFrame:
    """Every account's MRR in each of the twelve months up to the month of `as_of` (default
    today), zeros included: what `ws.metrics(["mrr"], where="account_id = ...")` answers for
    one account, computed for all of them in one engine query."""
    day = as_of or dt.date.today()
    first = shift(floor_date(day, "month"), "month", -(HISTORY_MONTHS - 1))
    query = Query(ws, "month", first, day, policy=ws.policy, definitions=ws.definitions, as_of=day)
    months = query.calendar.filter(query.calendar.period_start >= first).select("period_start")
    mrr = account_mrr(query)
    mrr = mrr.select(h_account="account_id", h_start="period_start", value="mrr_end")
    pairs = ws.table("accounts").select("account_id").cross_join(months)
    rows = pairs.left_join(
        mrr, [pairs.account_id == mrr.h_account, pairs.period_start == mrr.h_start]
    )
    rows = rows.select(
        "account_id",
        "period_start",
        value=rows.value.fill_null(ibis.literal(Decimal(0), type=MONEY)).cast(MONEY),
    )
    frame: pd.DataFrame = rows.order_by(["account_id", "period_start"]).to_pandas()
    return frame


def _churn_model(ws: Any) -> Any | None:
    """The stored churn model, or None when none has been trained."""
    from tenure.models.churn import stored

    try:
        return stored(ws)
    except TenureError:
        return None


# -- public ---------------------------------------------------------------------------------------
def build(ws: Any, *, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row per account (paying or not) with the columns of SCHEMA, as of the start of
    `as_of` (default today)."""
    day = as_of or dt.date.today()
    frame = _account_rows(ws, day)
    if frame.empty:  # no accounts loaded yet: an empty snapshot, not a failing job
        return pd.DataFrame({column: pd.Series(dtype=object) for column in COLUMNS})
    frame["arr"] = frame["mrr"] * 12
    frame["paying"] = frame["mrr"] > 0

    health = ws.health(as_of=day).set_index("account_id")
    features = account_features(ws, [day])
    phrases = phrase_table(features)
    model = HealthModel.load()
    component_feature = {c.name: c.feature for s in model.segments for c in s.components}
    health["health_drivers"] = _in_words(health["pulled_down_by"], phrases, component_feature)
    health["health_components"] = _components(health, phrases, model)

    churn = pd.DataFrame(index=pd.Index(features["account_id"], name="account_id"))
    fitted = _churn_model(ws)
    if fitted is not None and len(features):
        probability, drivers = fitted.explain(features)
        churn["churn_probability"] = probability
        codes = pd.Series(drivers, index=churn.index)
        churn["churn_drivers"] = _in_words(codes, phrases, {})
    else:
        churn["churn_probability"] = np.nan
        churn["churn_drivers"] = None

    scored = health[["health", "band", "trend", "health_drivers", "health_components"]]
    frame = frame.join(scored, on="account_id").join(churn, on="account_id")
    frame["refreshed_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frame["band"] = frame["band"].astype(object).where(frame["band"].notna(), None)
    for column in ("health_drivers", "health_components", "churn_drivers"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame[list(COLUMNS)].reset_index(drop=True)


def _sql(expression: exp.Expression) -> str:
    """SQL for the store, every identifier quoted by sqlglot."""
    return expression.sql("duckdb", identify=True)


def loads_seen(ws: Any) -> tuple[int, dt.datetime | None]:
    """How many loads the workspace has had, and when the last one was."""
    if not ws.has_table(loader.LOADS_TABLE):
        return 0, None
    log = ws.backend.table(loader.LOADS_TABLE)
    row = log.aggregate(count=log.count(), last=log.loaded_at.max()).to_pandas().iloc[0]
    return int(row["count"]), None if pd.isna(row["last"]) else row["last"].to_pydatetime()


@dataclass(frozen=True)
class Built:
    """A snapshot and its MRR history as of a day, with what `loads_seen` said before they
    were built (a load meanwhile leaves the saved snapshot stale)."""

    frame: pd.DataFrame
    history: pd.DataFrame
    as_of: dt.date
    loads: tuple[int, dt.datetime | None]


def prepare(ws: Any, *, as_of: dt.date | None = None) -> Built:
    """Build everything a refresh swaps in; `save` writes it. A server prepares on a reader and
    saves on its writer, so a load never waits for a build."""
    day = as_of or dt.date.today()
    seen = loads_seen(ws)
    return Built(build(ws, as_of=day), mrr_history(ws, as_of=day), day, seen)


def refresh(ws: Any, *, as_of: dt.date | None = None) -> int:
    """Build the snapshot and swap it in for the old one (the revenue ledger first, where it
    went stale); return the number of rows."""
    ws.refresh_ledger()
    return save(ws, prepare(ws, as_of=as_of))


def save(ws: Any, built: Built) -> int:
    """Swap a prepared snapshot and its MRR history in for the old ones in one transaction
    (readers see the old rows or the new, never none)."""
    if ws.read_only:
        raise TenureError(
            "the workspace is open read-only; refresh the account snapshot on a writable one"
        )
    frame, history, day = built.frame, built.history, built.as_of
    refreshed = frame["refreshed_at"].iloc[0] if len(frame) else dt.datetime.now(dt.UTC)
    count, last_load = built.loads
    tables = {
        SNAPSHOT_TABLE: pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False),
        HISTORY_TABLE: pa.Table.from_pandas(history, schema=HISTORY_SCHEMA, preserve_index=False),
    }
    # Unique names: two refreshes at once each write their own staging tables.
    token = uuid.uuid4().hex
    views = {name: f"_{name}_frame_{token}" for name in tables}
    con = ws.duckdb
    con.execute(
        "CREATE TABLE IF NOT EXISTS account_snapshot_info (as_of DATE, refreshed_at TIMESTAMP, "
        "loads BIGINT, last_load_at TIMESTAMP, accounts BIGINT)"
    )
    for name, arrow in tables.items():
        con.register(views[name], arrow)
    con.execute("BEGIN TRANSACTION")
    try:
        for name in tables:
            staging = exp.to_table(f"_{name}_staging_{token}")
            con.execute(_sql(exp.select("*").from_(exp.to_table(views[name])).ctas(staging)))
            con.execute("DROP TABLE IF EXISTS " + _sql(exp.to_table(name)))
            con.execute(_sql(exp.rename_table(staging, exp.to_table(name))))
        con.execute("DELETE FROM account_snapshot_info")
        con.execute(
            "INSERT INTO account_snapshot_info VALUES (?, ?, ?, ?, ?)",
            [day, pd.Timestamp(refreshed).to_pydatetime(), count, last_load, len(frame)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for view in views.values():
            con.unregister(view)
    return len(frame)


def status(ws: Any) -> dict[str, Any] | None:
    """What the current snapshot was built from (as_of, refreshed_at, loads, last_load_at,
    accounts) and whether a load has happened since (`stale`); None when there is none."""
    if not ws.is_embedded or not ws.has_table(INFO_TABLE):
        return None
    row = ws.backend.table(INFO_TABLE).to_pandas()
    if row.empty:
        return None
    info: dict[str, Any] = row.iloc[0].to_dict()
    info["as_of"] = pd.Timestamp(info["as_of"]).date()
    loads, _ = loads_seen(ws)
    info["stale"] = loads != int(info["loads"])
    return info


def exists(ws: Any) -> bool:
    """Whether a snapshot with this version's columns has been built (one built by an older
    version counts as none: the next refresh replaces it). One catalog query on the embedded
    store, which every account page asks."""
    if not ws.is_embedded:
        if not ws.has_table(SNAPSHOT_TABLE) or not ws.has_table(HISTORY_TABLE):
            return False
        return tuple(ws.backend.table(SNAPSHOT_TABLE).columns) == COLUMNS
    found = dict(
        ws.duckdb.execute(
            "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = current_schema() "
            "AND table_name IN (?, ?) GROUP BY table_name",
            [SNAPSHOT_TABLE, HISTORY_TABLE],
        ).fetchall()
    )
    return HISTORY_TABLE in found and tuple(found.get(SNAPSHOT_TABLE, ())) == COLUMNS


def _table(ws: Any) -> ir.Table:
    if not exists(ws):
        raise TenureError(
            "no account snapshot yet: refresh it (tenure.models.account_snapshot.refresh) "
            "after loading data"
        )
    table: ir.Table = ws.backend.table(SNAPSHOT_TABLE)
    return table


def account_mrr_history(ws: Any, account_id: str) -> pd.DataFrame:
    """One account's `period_start, value` rows from the snapshot's MRR history (none for an
    unknown account). Raises TenureError when no snapshot has been built."""
    _table(ws)
    history = ws.backend.table(HISTORY_TABLE)
    found = history.filter(history.account_id == account_id).order_by("period_start")
    rows: pd.DataFrame = found.select("period_start", "value").to_pandas()
    rows["period_start"] = rows["period_start"].dt.date  # dates, as the metrics answer them
    return rows


def account(ws: Any, account_id: str) -> pd.DataFrame:
    """The snapshot row of one account (no rows when it has none). Raises TenureError when no
    snapshot has been built."""
    table = _table(ws)
    row: pd.DataFrame = table.filter(table.account_id == account_id).to_pandas()
    return row


def read(
    ws: Any,
    *,
    search: str | None = None,
    band: str | None = None,
    paying: bool | None = None,
    cancelling: bool | None = None,
    where: str | None = None,
    sort: str = "churn_probability",
    descending: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> tuple[pd.DataFrame, int]:
    """One page of the snapshot and the number of rows that match: filtered by band, paying,
    cancelling (a churn is scheduled), an account-attribute filter and a case-insensitive
    search of account_id and name; sorted by `sort` (NULLs last), ties by the lowest health, then
    by account_id. Raises TenureError when no snapshot has been built (it never builds one
    itself: reads stay fast)."""
    if sort not in SORTABLE:
        raise QueryError(f"cannot sort by {sort!r}; choose one of: {', '.join(SORTABLE)}")
    if band is not None and band not in BANDS:
        raise QueryError(f"unknown band {band!r}; choose one of: {', '.join(BANDS)}")
    if limit < 1 or offset < 0:
        raise QueryError("limit must be at least 1 and offset at least 0")
    table = _table(ws)
    if band is not None:
        table = table.filter(table.band == band)
    if paying is not None:
        table = table.filter(table.paying == paying)
    if cancelling is not None:
        scheduled = table.scheduled_churn_on.notnull()
        table = table.filter(scheduled if cancelling else ~scheduled)
    if search:
        text = search.lower()
        table = table.filter(
            table.account_id.lower().contains(text)
            | table["name"].fill_null("").lower().contains(text)
        )
    table = _filtered(ws, table, where)
    total = int(table.count().execute())
    key = ibis.desc(sort, nulls_first=False) if descending else ibis.asc(sort, nulls_first=False)
    keys = [key] + [
        k
        for name, k in (
            ("health", ibis.asc("health", nulls_first=False)),
            ("account_id", "account_id"),
        )
        if name != sort
    ]
    page: pd.DataFrame = table.order_by(keys).limit(limit, offset=offset).to_pandas()
    return page, total


def _filtered(ws: Any, table: ir.Table, where: str | None) -> ir.Table:
    """Snapshot rows of the accounts an account-attribute filter matches."""
    if where is None:
        return table
    accounts = ws.table("accounts")
    chosen = accounts.filter(parse_filter(where, accounts)).select(w_account="account_id")
    return table.semi_join(chosen, table.account_id == chosen.w_account)


# -- score distributions ------------------------------------------------------------------------
# Health by its bands; churn risk by tenths of probability, named by percent ("30-40": 30% up to
# but not including 40%; "90-100" includes 100%).
CHURN_BANDS = tuple(f"{10 * i}-{10 * (i + 1)}" for i in range(10))
SCORE_BANDS: dict[str, tuple[str, ...]] = {"health": BANDS, "churn": CHURN_BANDS}
_WHAT = {
    "health": "health score band (red < yellow < green)",
    "churn": "churn probability (percent) from the stored churn model",
}


def _banded(ws: Any, score: str, where: str | None) -> ir.Table:
    """The scored accounts of the snapshot (in the filter), with `score_band`."""
    if score not in SCORE_BANDS:
        raise QueryError(f"unknown score {score!r}; choose one of: {', '.join(SCORE_BANDS)}")
    table = _filtered(ws, _table(ws), where)
    if score == "health":
        return table.filter(table.band.notnull()).mutate(score_band=table.band)
    tenth = (table.churn_probability * 10).floor().clip(lower=0, upper=9).cast("int64")
    label = ibis.cases(*[(tenth == i, name) for i, name in enumerate(CHURN_BANDS)])
    scored = table.filter(table.churn_probability.notnull())
    return scored.mutate(score_band=label)


def distribution(ws: Any, score: str, *, where: str | None = None) -> pd.DataFrame:
    """Accounts per band of a score (`health` or `churn`), every band listed in order (0 where
    none): band, accounts. Raises TenureError when no snapshot has been built."""
    table = _banded(ws, score, where)
    counted = table.group_by(band="score_band").aggregate(accounts=table.count()).to_pandas()
    bands = pd.DataFrame({"band": SCORE_BANDS[score]})
    result = bands.merge(counted, on="band", how="left").fillna({"accounts": 0})
    result["accounts"] = result["accounts"].astype("int64")
    return result


def band_accounts(ws: Any, score: str, band: str, *, where: str | None = None) -> pd.DataFrame:
    """The accounts in one band of a score's distribution, riskiest first; `frame.attrs`: the
    band's accounts (numerator) of the scored accounts (denominator)."""
    if score in SCORE_BANDS and band not in SCORE_BANDS[score]:
        choices = ", ".join(SCORE_BANDS[score])
        raise QueryError(f"unknown {score} band {band!r}; choose one of: {choices}")
    table = _banded(ws, score, where)
    scored = int(table.count().execute())
    chosen = table.filter(table.score_band == band)
    shown = [
        "account_id",
        "name",
        "owner",
        "paid_plan",
        "arr",
        "health",
        "band",
        "churn_probability",
        "scheduled_churn_on",
        "last_activity",
    ]
    order = ibis.asc("health") if score == "health" else ibis.desc("churn_probability")
    result: pd.DataFrame = chosen.select(*shown).order_by(order, "account_id").to_pandas()
    result["scheduled_churn_on"] = pd.to_datetime(result["scheduled_churn_on"]).dt.date
    result.attrs = {
        "definition": f"accounts in the {score} band {band} / scored accounts; {_WHAT[score]}",
        "unit": "percent",
        "value": 100.0 * len(result) / scored if scored else None,
        "numerator": len(result),
        "denominator": scored,
    }
    return result
