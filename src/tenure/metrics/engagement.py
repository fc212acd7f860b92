"""Product-usage rows from the events table: active users, sessions, page views, features,
shares and mentions, conversion and onboarding, per account and period (and per page, feature or
channel when a query splits by it).

Active users are users (events with a user_id) with at least one event counted as activity by
`Definitions.active_events`. Sessions use session_id where an event has one; other events of the
same user (or anonymous visitor) form a new session when they start more than
`session_gap_minutes` after the previous event ended (occurred_at + duration_s): a gap of exactly
the limit continues the session. A session belongs to the period in which it starts; a page view
to the period of the view, and a unique page view (a session that viewed the page) to the period
of the session's first view of that page.

Active user-days, sessions, page views and features used per day are event rollups
(`rollups.py`): stored tables that a load keeps current, read when they match the query.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.metrics import rollups
from tenure.metrics.definitions import Definitions
from tenure.metrics.query import Query, flag, union_sum
from tenure.metrics.rollups import Rollup, with_local_time

ACTIVITY_MEASURES = (
    "user_days",
    "active_users",
    "active_days",
    "active_accounts",
    "wau",
    "mau",
    "mau_accounts",
    "user_days_30",
)
SESSION_MEASURES = ("sessions", "session_seconds", "session_users")
PAGE_MEASURES = ("page_views", "unique_page_views")
FEATURE_MEASURES = ("feature_events", "feature_users", "feature_accounts", "core_feature_share")
SOCIAL_MEASURES = ("shares", "mentions")
FUNNEL_MEASURES = (
    "visitors",
    "leads",
    "conversions",
    "visitor_conversions",
    "lead_conversions",
    "signups",
    "paid_conversions",
    "onboarding_started",
    "onboarding_completed",
)


def _events(query: Query) -> ir.Table:
    """Events in the days the query reads, with local time `at` and `day`."""

    def build() -> ir.Table:
        rows = with_local_time(query.facts("events"), query.tables)
        first, last = query.window
        return rows.filter(rows.day >= first, rows.day <= last)

    return query.memo("events", build)


# -- active users --------------------------------------------------------------------------------
def _user_days(events: ir.Table, definitions: Definitions) -> ir.Table:
    """Distinct (account_id, user_id, day) with activity."""
    names = definitions.active_event_names
    active = events.user_id.notnull()
    if names is not None:
        active &= events.name.isin(names)
    return events.filter(active).select("account_id", "user_id", "day").distinct()


# Partition keys of the rollups (Rollup.partition): a user-day, or a visitor's whole history.
def _user_day(events: ir.Table) -> dict[str, ir.Value]:
    return {"user_id": events.user_id, "day": events.day}


def _visitor(events: ir.Table) -> dict[str, ir.Value]:
    return {"visitor": events.user_id.fill_null(events.anonymous_id)}


USER_DAYS = Rollup("user_days", _user_days, lambda d: d.active_event_names, _user_day)


def account_activity(query: Query) -> ir.Table:
    """Per account and period: user_days (for average DAU), active_users, active_days (days with
    any active user), active_accounts (1 if any), and at the period's last day: wau and mau
    (distinct users in the 7 and 30 days ending then), mau_accounts, user_days_30."""
    days = rollups.rows(query, USER_DAYS, lambda: _events(query))
    keys = query.account_keys()
    inside = query.in_period(days)
    period = inside.group_by(keys).aggregate(
        user_days=inside.count(),
        active_users=inside.user_id.nunique(),
        active_days=inside.day.nunique(),
    )
    periods = query.calendar.select(
        "period_index", "period_start", "week_from", "month_from", "last_day"
    )
    trailing = days.join(periods, [days.day >= periods.month_from, days.day <= periods.last_day])
    in_week = trailing.day >= trailing.week_from
    windows = trailing.group_by(keys).aggregate(
        mau=trailing.user_id.nunique(),
        user_days_30=trailing.count(),
        wau=ibis.cases((in_week, trailing.user_id)).nunique(),
    )
    counts = ("user_days", "active_users", "active_days", "wau", "mau", "user_days_30")
    rows = union_sum([period, windows], keys, dict.fromkeys(counts, "int64"))
    return rows.mutate(active_accounts=flag(rows.active_users > 0), mau_accounts=flag(rows.mau > 0))


# -- sessions and page views -----------------------------------------------------------------------
SESSION_KEY = ("visitor", "session_id", "session_no")


def _sessionised(events: ir.Table, definitions: Definitions) -> ir.Table:
    """Every event with its session: (visitor, session_id, session_no) identifies it, where
    visitor is user_id, else anonymous_id, and session_no numbers the gap-based sessions of a
    visitor's events that have no session_id (NULL for the others). `viewed` is the page of a
    page view (NULL for other events)."""
    start_s = events.at.epoch_seconds()
    # Only what sessions and page views need: the window sorts carry every column.
    rows = events.select(
        "account_id",
        "session_id",
        "day",
        **_visitor(events),
        viewed=ibis.cases((events.name == "page_view", events.page.fill_null(""))),
        start_s=start_s,
        end_s=start_s.cast("float64") + events.duration_s.fill_null(0),
    )
    given = rows.filter(rows.session_id.notnull()).mutate(session_no=ibis.null().cast("int64"))
    loose = rows.filter(rows.session_id.isnull())
    order = ibis.window(group_by=loose.visitor, order_by=[loose.start_s, loose.end_s])
    previous_end = loose.end_s.lag().over(order)
    gap = definitions.session_gap_minutes * 60
    starts = loose.mutate(
        new=flag(previous_end.isnull() | (loose.start_s.cast("float64") - previous_end > gap))
    )
    number = starts.new.sum().over(
        ibis.window(
            group_by=starts.visitor,
            order_by=[starts.start_s, starts.end_s],
            rows=(None, 0),
        )
    )
    gapped = starts.mutate(session_no=number.cast("int64")).drop("new")
    return given.union(gapped)


def _sessions(rows: ir.Table, definitions: Definitions) -> ir.Table:
    """One row per session of sessionised events: its key, account, first start and last end
    (seconds), and day."""
    return rows.group_by(list(SESSION_KEY)).aggregate(
        account_id=rows.account_id.max(),
        first_s=rows.start_s.min(),
        last_s=rows.end_s.max(),
        day=rows.day.min(),
    )


def _page_days(rows: ir.Table, definitions: Definitions) -> ir.Table:
    """Per visitor, account, day and page of sessionised events: page_views, and
    unique_page_views, the visitor's sessions whose first view of the page fell on that day (a
    session counts once per page)."""
    views = rows.filter(rows.viewed.notnull()).mutate(page=rows.viewed.nullif(""))
    in_session = ibis.window(group_by=[*SESSION_KEY, "page"], order_by=views.start_s)
    views = views.mutate(first=flag(ibis.row_number().over(in_session) == 0))
    return views.group_by("visitor", "account_id", "day", "page").aggregate(
        page_views=views.count(), unique_page_views=views.first.sum()
    )


def _gap(d: Definitions) -> float:
    return d.session_gap_minutes


SESSIONS = Rollup("sessions", _sessions, _gap, _visitor, prepared=_sessionised)
PAGE_DAYS = Rollup("page_days", _page_days, _gap, _visitor, prepared=_sessionised)


def account_sessions(query: Query) -> ir.Table:
    """Per account and period (of each session's start): sessions, session_seconds (last event
    end - first event start) and session_users (distinct users or visitors)."""
    sessions = query.in_period(rollups.rows(query, SESSIONS, lambda: _events(query)))
    return sessions.group_by(query.account_keys()).aggregate(
        sessions=sessions.count(),
        session_seconds=(sessions.last_s - sessions.first_s.cast("float64")).sum(),
        session_users=sessions.visitor.nunique(),
    )


def page_rows(query: Query) -> ir.Table:
    """Per visitor, account, day (with its period) and page: page_views and unique_page_views
    (sessions that viewed the page, summed over pages)."""
    return query.in_period(rollups.rows(query, PAGE_DAYS, lambda: _events(query)))


# -- features ------------------------------------------------------------------------------------
def _feature_days(events: ir.Table, definitions: Definitions) -> ir.Table:
    """Per account, user, day and feature used: feature_events."""
    used = events.filter(events.feature.notnull())
    return used.group_by("account_id", "user_id", "day", "feature").aggregate(
        feature_events=used.count()
    )


FEATURE_DAYS = Rollup("feature_days", _feature_days, lambda d: None, _user_day)
ROLLUPS = (USER_DAYS, SESSIONS, PAGE_DAYS, FEATURE_DAYS)


def account_features(query: Query) -> ir.Table:
    """Per account, period (and feature): feature_events, feature_users, feature_accounts, and
    core_feature_share = core features used / core features defined (depth, per account; every
    feature seen counts as core when none are defined)."""
    days = rollups.rows(query, FEATURE_DAYS, lambda: _events(query))
    used = query.in_period(days)
    keys = query.account_keys("feature")
    core = query.definitions.core_feature_names
    if core:
        is_core = used.feature.isin(core)
        defined: ir.Value = ibis.literal(float(len(core)))
    else:
        is_core = ibis.literal(True)
        defined = days.feature.nunique().as_scalar().cast("float64")
    grouped = used.group_by(keys).aggregate(
        feature_events=used.feature_events.sum(),
        feature_users=used.user_id.nunique(),
        core_used=ibis.cases((is_core, used.feature)).nunique(),
    )
    return grouped.mutate(
        feature_accounts=ibis.literal(1, type="int64"),
        core_feature_share=grouped.core_used.cast("float64") / defined,
    ).drop("core_used")


def _property(events: ir.Table, key: str) -> ir.StringValue:
    """A top-level string or number of the event's properties JSON (NULL when absent), read
    with a regular expression that every engine runs natively (Spark's JSON access in Ibis is a
    Python UDF)."""
    pattern = rf'"{key}"\s*:\s*"?([^",}}]*)'
    found = events.properties.re_extract(pattern, 1)
    return ibis.cases((found == "", ibis.null("string")), else_=found)


def social_rows(query: Query) -> ir.Table:
    """Share and mention events with their period and share_channel (properties.channel):
    shares and mentions as 0/1."""
    events = _events(query)
    social = events.filter(events.name.isin(["share", "mention"]))
    social = query.in_period(social.mutate(share_channel=_property(social, "channel")))
    return social.mutate(
        shares=flag(social.name == "share"), mentions=flag(social.name == "mention")
    )


# -- conversion and onboarding ---------------------------------------------------------------------
def account_funnel(query: Query) -> ir.Table:
    """Per account (NULL for anonymous visitors) and period: distinct visitors (with a visit),
    leads, conversions (visitors or users with the conversion event), visitor_conversions and
    lead_conversions (those visitors and leads who converted in the same period), signups and
    paid conversions (accounts), and onboarding started / completed (accounts, in the period of
    their first step; completed when every step has been done, whenever)."""
    d = query.definitions
    events = _events(query)
    marked = events.mutate(visitor=events.anonymous_id.fill_null(events.user_id))
    names = [d.visit_event, d.lead_event, d.conversion_event, d.paid_event]
    steps = query.in_period(marked.filter(marked.name.isin(names)))
    per_visitor = steps.group_by("visitor", "period_index", "period_start").aggregate(
        account_id=steps.account_id.max(),
        visited=steps.name.isin([d.visit_event]).any(),
        led=steps.name.isin([d.lead_event]).any(),
        converted=steps.name.isin([d.conversion_event]).any(),
    )
    keys = query.account_keys()
    v = per_visitor
    funnel = v.group_by(keys).aggregate(
        visitors=flag(v.visited).sum(),
        leads=flag(v.led).sum(),
        conversions=flag(v.converted).sum(),
        visitor_conversions=flag(v.visited & v.converted).sum(),
        lead_conversions=flag(v.led & v.converted).sum(),
    )
    accounts = steps.group_by(keys).aggregate(
        signups=ibis.cases((steps.name == d.conversion_event, steps.account_id)).nunique(),
        paid_conversions=ibis.cases((steps.name == d.paid_event, steps.account_id)).nunique(),
    )
    onboarding = query.facts("events")
    onboarding = onboarding.filter(
        onboarding.name == d.onboarding_event, onboarding.account_id.notnull()
    )
    step = _property(onboarding, "step")
    per_account = onboarding.group_by("account_id").aggregate(
        day=query.local(onboarding.occurred_at).min().date(),
        steps_done=step.nunique(),
    )
    started = query.in_period(per_account)
    onboarded = started.group_by(keys).aggregate(
        onboarding_started=started.count(),
        onboarding_completed=flag(started.steps_done >= d.onboarding_steps).sum(),
    )
    return union_sum([funnel, accounts, onboarded], keys, dict.fromkeys(FUNNEL_MEASURES, "int64"))


# -- product performance ---------------------------------------------------------------------
PERFORMANCE_MEASURES = ("defects", "downtime_seconds", "requests", "request_seconds")


def performance_rows(query: Query) -> ir.Table:
    """Defect, incident and timed-request events with their period: defects (0/1), downtime
    (seconds of an incident, in the period of its start), requests (0/1) and request_seconds
    (seed 004)."""
    d = query.definitions
    events = _events(query)
    signals = query.in_period(
        events.filter(events.name.isin([d.defect_event, d.incident_event, d.request_event]))
    )
    seconds = signals.duration_s.fill_null(0)
    return signals.mutate(
        defects=flag(signals.name == d.defect_event),
        downtime_seconds=ibis.cases((signals.name == d.incident_event, seconds), else_=0.0),
        requests=flag(signals.name == d.request_event),
        request_seconds=ibis.cases((signals.name == d.request_event, seconds), else_=0.0),
    )
