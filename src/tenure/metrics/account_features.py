"""Point-in-time account features for the health score and churn prediction.

For each cut-off date and each account paying at that instant, everything is computed from
facts dated strictly before the cut-off (windows end the day before), so a model trained on past
cut-offs never sees its own future. One engine query per call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.definitions import Definitions
from tenure.metrics.mrr import paying_spells
from tenure.metrics.query import Query, convert, flag
from tenure.metrics.tables import Tables
from tenure.metrics.voice import on_ten

FEATURES = (
    "mrr",
    "mrr_growth_90d",
    "tenure_days",
    "active_days_30d",
    "active_users_30d",
    "users",
    "breadth_30d",
    "depth_30d",
    "events_30d",
    "events_per_user_30d",
    "usage_trend",
    "days_since_active",
    "nps_180d",
    "csat_180d",
    "tickets_30d",
    "tickets_90d",
    "open_tickets",
    "refunds_90d",
    "cancel_pending",
)


def _days_before(day: ir.DateValue, days: int) -> ir.DateValue:
    return day - ibis.interval(days=days)


def account_features(
    tables: Tables,
    cutoffs: Sequence[dt.date],
    *,
    horizon_days: int | None = None,
    known_until: dt.date | None = None,
    where: str | None = None,
) -> pd.DataFrame:
    """One row per (cutoff, account paying at the cutoff): the FEATURES, and with a horizon the
    label `churned` (not paying `horizon_days` later; NULL when that day is after
    `known_until`, the end of the data, default today)."""
    if not cutoffs:
        raise QueryError("give at least one cut-off date")
    query = Query(tables, "day", min(cutoffs), max(cutoffs), where=where)
    d: Definitions = tables.definitions
    cuts = ibis.memtable({"cutoff": sorted(set(cutoffs))}, schema={"cutoff": "date"})
    instant = cuts.cutoff.cast("timestamp")

    spells = paying_spells(query)
    spells = query.with_rate(spells.mutate(rate_day=ibis.today()), "rate_day")
    paying = spells.join(
        cuts,
        [spells.pay_from < instant, spells.pay_to.isnull() | (spells.pay_to >= instant)],
    )
    base = paying.group_by("account_id", "cutoff").aggregate(
        mrr=convert(paying.monthly, paying.rate).sum().cast("float64"),
        first_paid=paying.pay_from.min(),
    )
    earlier = spells.join(
        cuts,
        [
            spells.pay_from < (cuts.cutoff - ibis.interval(days=90)).cast("timestamp"),
            spells.pay_to.isnull()
            | (spells.pay_to >= (cuts.cutoff - ibis.interval(days=90)).cast("timestamp")),
        ],
    )
    mrr_90 = earlier.group_by(m90_account="account_id", m90_cutoff="cutoff").aggregate(
        mrr_90=convert(earlier.monthly, earlier.rate).sum().cast("float64")
    )

    events = tables.table("events")
    day = query.local(events.occurred_at).date()
    events = events.filter(events.account_id.notnull()).mutate(day=day)
    recent = events.join(
        cuts, [events.day < cuts.cutoff, events.day >= _days_before(cuts.cutoff, 60)]
    )
    in_30 = recent.day >= _days_before(recent.cutoff, 30)
    names = d.active_event_names
    active = recent.user_id.notnull() & (recent.name.isin(names) if names is not None else True)
    core = d.core_feature_names
    is_core = recent.feature.isin(core) if core else recent.feature.notnull()
    defined = float(len(core)) if core else events.feature.nunique().as_scalar().cast("float64")
    usage = recent.group_by(u_account="account_id", u_cutoff="cutoff").aggregate(
        active_days_30d=ibis.cases((in_30 & active, recent.day)).nunique(),
        active_users_30d=ibis.cases((in_30 & active, recent.user_id)).nunique(),
        core_30d=ibis.cases((in_30 & is_core, recent.feature)).nunique(),
        events_30d=flag(in_30).sum(),
        events_prev_30d=flag(~in_30).sum(),
    )
    last_seen = events.join(cuts, events.day < cuts.cutoff)
    seen = last_seen.group_by(s_account="account_id", s_cutoff="cutoff").aggregate(
        last_day=last_seen.day.max()
    )

    users = tables.table("users")
    user_rows = users.join(cuts, users.created_at.isnull() | (users.created_at < instant))
    user_counts = user_rows.group_by(n_account="account_id", n_cutoff="cutoff").aggregate(
        users=user_rows.count()
    )

    answers = tables.table("survey_responses")
    a_day = query.local(answers.responded_at).date()
    answers = answers.mutate(day=a_day)
    said = answers.join(
        cuts, [answers.day < cuts.cutoff, answers.day >= _days_before(cuts.cutoff, 180)]
    )
    ten = on_ten(said)
    share = (said.score - said.scale_min) / (said.scale_max - said.scale_min)
    voice = said.group_by(v_account="account_id", v_cutoff="cutoff").aggregate(
        nps_180d=ibis.cases((said.survey == "nps", ten)).mean(),
        csat_180d=ibis.cases((said.survey == "csat", share)).mean(),
    )

    tickets = tables.table("tickets")
    opened = query.local(tickets.opened_at)
    tickets = tickets.mutate(day=opened.date(), opened=opened)
    t = tickets.join(cuts, tickets.opened < instant)
    still_open = t.status != "abandoned"
    still_open &= t.resolved_at.isnull() | (
        query.local(t.resolved_at) >= t.cutoff.cast("timestamp")
    )
    support = t.group_by(t_account="account_id", t_cutoff="cutoff").aggregate(
        tickets_30d=flag(t.day >= _days_before(t.cutoff, 30)).sum(),
        tickets_90d=flag(t.day >= _days_before(t.cutoff, 90)).sum(),
        open_tickets=flag(still_open).sum(),
    )

    orders = tables.table("orders")
    o_day = query.local(orders.ordered_at).date()
    orders = orders.mutate(day=o_day)
    refunds = orders.filter(orders.kind == "refund").join(
        cuts, [o_day < cuts.cutoff, o_day >= _days_before(cuts.cutoff, 90)]
    )
    billing = refunds.group_by(r_account="account_id", r_cutoff="cutoff").aggregate(
        refunds_90d=refunds.count()
    )
    subs = query.facts("subscriptions")
    pending = subs.join(
        cuts,
        [
            subs.canceled_at.notnull(),
            subs.canceled_at < instant,
            subs.ended_at.isnull() | (subs.ended_at >= instant),
        ],
    )
    cancels = pending.group_by(c_account="account_id", c_cutoff="cutoff").aggregate(
        cancel_pending=pending.count()
    )

    rows = base
    for part, prefix in (
        (mrr_90, "m90"),
        (usage, "u"),
        (seen, "s"),
        (user_counts, "n"),
        (voice, "v"),
        (support, "t"),
        (billing, "r"),
        (cancels, "c"),
    ):
        rows = rows.left_join(
            part,
            [
                rows.account_id == part[f"{prefix}_account"],
                rows.cutoff == part[f"{prefix}_cutoff"],
            ],
        ).drop(f"{prefix}_account", f"{prefix}_cutoff")
    if horizon_days is not None:
        later = cuts.mutate(
            later=(cuts.cutoff + ibis.interval(days=horizon_days)).cast("timestamp")
        )
        still = spells.join(
            later,
            [
                spells.pay_from < later.later,
                spells.pay_to.isnull() | (spells.pay_to >= later.later),
            ],
        )
        kept = still.group_by(k_account="account_id", k_cutoff="cutoff").aggregate(
            kept=still.count()
        )
        rows = rows.left_join(
            kept, [rows.account_id == kept.k_account, rows.cutoff == kept.k_cutoff]
        ).drop("k_account", "k_cutoff")
    frame = rows.order_by("cutoff", "account_id").to_pandas()
    known = known_until or dt.date.today()
    return _finish(
        frame, defined if isinstance(defined, float) else None, horizon_days, known, tables
    )


def _finish(
    frame: pd.DataFrame,
    defined: float | None,
    horizon_days: int | None,
    known_until: dt.date,
    tables: Tables,
) -> pd.DataFrame:
    """Derived ratios, zeros for counts with no rows, NaN where a value is unknown (no answer)."""
    counts = [
        "active_days_30d",
        "active_users_30d",
        "core_30d",
        "events_30d",
        "events_prev_30d",
        "tickets_30d",
        "tickets_90d",
        "open_tickets",
        "refunds_90d",
        "cancel_pending",
        "users",
    ]
    for column in counts:
        frame[column] = frame[column].fillna(0).astype(float)
    if defined is None:
        events = tables.table("events")
        defined = float(events.feature.nunique().execute() or 0)
    cutoff = pd.to_datetime(frame["cutoff"])
    result = pd.DataFrame(
        {
            "cutoff": cutoff.dt.date,
            "account_id": frame["account_id"],
            "mrr": frame["mrr"],
            "mrr_growth_90d": frame["mrr"] / frame["mrr_90"] - 1,
            "tenure_days": (cutoff - pd.to_datetime(frame["first_paid"])).dt.days.astype(float),
            "active_days_30d": frame["active_days_30d"],
            "active_users_30d": frame["active_users_30d"],
            "users": frame["users"],
            "breadth_30d": frame["active_users_30d"] / frame["users"].where(frame["users"] > 0),
            "depth_30d": frame["core_30d"] / defined if defined else float("nan"),
            "events_30d": frame["events_30d"],
            "events_per_user_30d": frame["events_30d"] / frame["users"].where(frame["users"] > 0),
            "usage_trend": (frame["events_30d"] + 1) / (frame["events_prev_30d"] + 1),
            "days_since_active": (cutoff - pd.to_datetime(frame["last_day"])).dt.days.astype(float),
            "nps_180d": frame["nps_180d"].astype(float),
            "csat_180d": frame["csat_180d"].astype(float),
            "tickets_30d": frame["tickets_30d"],
            "tickets_90d": frame["tickets_90d"],
            "open_tickets": frame["open_tickets"],
            "refunds_90d": frame["refunds_90d"],
            "cancel_pending": (frame["cancel_pending"] > 0).astype(float),
        }
    )
    if horizon_days is not None:
        known = cutoff + pd.Timedelta(days=horizon_days) <= pd.Timestamp(known_until)
        result["churned"] = (frame["kept"].fillna(0) == 0).astype(float).where(known)
    return result
