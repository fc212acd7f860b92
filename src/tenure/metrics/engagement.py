"""Product-usage rows from the events table: active users, sessions, page views, features,
shares and mentions, conversion and onboarding, per account and period (and per page, feature or
channel when a query splits by it).

Active users are users (events with a user_id) with at least one event counted as activity by
`Definitions.active_events`. A person counts once in every total: rows per account feed
drill-down, and the counts of distinct users per segment (`segment_*`) are taken over the
segment's users, so a user active under two accounts counts once in the company and once in each
segment those accounts belong to.

Sessions use session_id where an event has one; other events of the same user (or anonymous
visitor) form a new session when they start more than `session_gap_minutes` after the previous
event ended (occurred_at + duration_s): a gap of exactly the limit continues the session. A
session lasts from its first event to its last event's timestamp, or to its last event's end with
`session_duration` = last_event_end; it belongs to the account of its first event that has one,
and to the period in which it starts. Times are exact to the microsecond (DECIMAL seconds), so
that durations add up without float noise. A page view belongs to the period of the view, and a
unique page view (a session that viewed the page) to the period of the session's first view of
that page.

Active user-days, sessions, page views and features used per day are event rollups
(`rollups.py`): stored tables that a load keeps current, read when they match the query.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import ibis.expr.datatypes as dtypes
import ibis.expr.types as ir

from tenure.engine.calendar import on_local_days
from tenure.metrics import rollups
from tenure.metrics.definitions import Definitions
from tenure.metrics.query import Query, flag, union_sum
from tenure.metrics.rollups import Rollup, with_local_time
from tenure.metrics.tables import Tables

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

# Instants and durations in seconds, exact to the microsecond: a timestamp's epoch (about 1.7e9)
# plus a fractional duration in double precision would carry float noise into every sum.
SECONDS = dtypes.Decimal(18, 6)


def seconds(value: ir.NumericValue) -> ir.DecimalValue:
    """Seconds (a double or an integer) rounded to the microsecond as DECIMAL; the rounding is
    spelled out (floor(x * 1e6 + 0.5)) so that every engine rounds alike."""
    micros = (value.cast("float64") * 1_000_000 + 0.5).floor()
    return (micros / 1_000_000).cast(SECONDS)


def _events(query: Query) -> ir.Table:
    """Events in the days the query reads, with local time `at` and `day`."""

    def build() -> ir.Table:
        first, last = query.window
        events = on_local_days(query.facts("events"), first, last)
        rows = with_local_time(events, query.tables)
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


def _activity(query: Query, days: ir.Table, keys: list[str]) -> ir.Table:
    """Per `keys` and period, from user-days distinct within `keys`: user_days, active_users,
    active_days (days with any active user), and at the period's last day: wau and mau (distinct
    users in the 7 and 30 days ending then), user_days_30."""
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
    return union_sum([period, windows], keys, dict.fromkeys(counts, "int64"))


def account_activity(query: Query) -> ir.Table:
    """Per account and period: the counts of `_activity`, active_accounts (1 if any active user)
    and mau_accounts (1 if any in the 30 days)."""
    days = rollups.rows(query, USER_DAYS, lambda: _events(query))
    rows = _activity(query, days, query.account_keys())
    return rows.mutate(active_accounts=flag(rows.active_users > 0), mau_accounts=flag(rows.mau > 0))


def segment_activity(query: Query) -> ir.Table:
    """Per period and segment: the distinct-user counts over the segment's users (a user active
    under two accounts counts once), and the per-account measures (active_days as account-days,
    active_accounts, mau_accounts) summed over its accounts."""
    days = rollups.rows(query, USER_DAYS, lambda: _events(query))
    keys = ["period_index", "period_start", *query.by]
    people = query.with_segments(days, day="day").select(*query.by, "user_id", "day").distinct()
    users = _activity(query, people, keys).drop("active_days")
    accounts = query.with_segments(account_activity(query)).select(
        *keys, "active_days", "active_accounts", "mau_accounts"
    )
    return union_sum([users, accounts], keys, dict.fromkeys(ACTIVITY_MEASURES, "int64"))


# -- sessions and page views -----------------------------------------------------------------------
SESSION_KEY = ("visitor", "session_id", "session_no")


def _sessionised(events: ir.Table, definitions: Definitions) -> ir.Table:
    """Every event with its session: (visitor, session_id, session_no) identifies it, where
    visitor is user_id, else anonymous_id, and session_no numbers the gap-based sessions of a
    visitor's events that have no session_id (NULL for the others). `viewed` is the page of a
    page view (NULL for other events)."""
    start_s = seconds(events.at.epoch_seconds())
    # Only what sessions and page views need: the window sorts carry every column.
    rows = events.select(
        "account_id",
        "session_id",
        "day",
        **_visitor(events),
        viewed=ibis.cases((events.name == "page_view", events.page.fill_null(""))),
        start_s=start_s,
        end_s=(start_s + seconds(events.duration_s.fill_null(0))).cast(SECONDS),
    )
    given = rows.filter(rows.session_id.notnull()).mutate(session_no=ibis.null().cast("int64"))
    loose = rows.filter(rows.session_id.isnull())
    order = ibis.window(group_by=loose.visitor, order_by=[loose.start_s, loose.end_s])
    previous_end = loose.end_s.lag().over(order)
    gap = ibis.literal(Decimal(repr(definitions.session_gap_minutes * 60)), type=SECONDS)
    starts = loose.mutate(new=flag(previous_end.isnull() | (loose.start_s - previous_end > gap)))
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
    """One row per session of sessionised events: its key, account (of its first event that has
    one; of events at the same instant, the smallest id), first start and end (seconds: the last
    event's timestamp, or its end by `session_duration`), and day."""
    last = rows.start_s if definitions.session_duration == "last_event" else rows.end_s
    key = list(SESSION_KEY)
    # Per session and account first, so that the window that finds the first account sees
    # about one row per session rather than every event.
    pairs = rows.group_by([*key, "account_id"]).aggregate(
        pair_first=rows.start_s.min(), pair_last=last.max(), pair_day=rows.day.min()
    )
    with_account = ibis.cases((pairs.account_id.notnull(), pairs.pair_first))
    pairs = pairs.mutate(account_first=with_account.min().over(ibis.window(group_by=key)))
    first_account = pairs.pair_first == pairs.account_first
    return pairs.group_by(key).aggregate(
        account_id=ibis.cases((first_account, pairs.account_id)).min(),
        first_s=pairs.pair_first.min(),
        last_s=pairs.pair_last.max(),
        day=pairs.pair_day.min(),
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


def _gap_and_duration(d: Definitions) -> tuple[float, str]:
    return d.session_gap_minutes, d.session_duration


def _visitor_cuts(tables: Tables, touched: ir.Table) -> ir.Table:
    """Per visitor of the touched rows (old versions too, local time): `from_day`, from which
    its sessions and page-view days are recomputed, and `prior_sessions`, how many of its
    gap-based sessions start before it (their numbers stay; the recomputed ones continue).

    from_day is at most the first day of its touched rows, of its stored gap-based session that
    started last before its first touched row without a session_id (a new event may extend it),
    and of each session_id it touched; then it moves back to the first day of a run of stored
    sessions that reach from one day into the next, so that no session has events both before
    and from it. Before from_day the visitor's events, sessions and page-view days are then as
    stored, and from it they depend only on the events from it."""
    rows = touched.select(
        **_visitor(touched),
        session_id=touched.session_id,
        day=touched.day,
        start_s=seconds(touched.at.epoch_seconds()),
    )
    first = (
        rows.group_by("visitor")
        .aggregate(
            touched_day=rows.day.min(),
            gap_from=rows.start_s.min(where=rows.session_id.isnull()),
        )
        .rename(key_visitor="visitor")
    )
    stored = tables.backend.table(SESSIONS.table)
    stored = stored.select(
        "visitor",
        "session_id",
        "day",
        "first_s",
        day_no=stored.day.epoch_days(),
        # The day of its last event (or, by session_duration, of that event's end: later, which
        # only makes a run longer).
        last_day_no=(stored.last_s / 86_400).floor().cast("int64"),
    )
    mine = stored.join(first, stored.visitor.identical_to(first.key_visitor))
    pairs = (
        rows.filter(rows.session_id.notnull())
        .select(key_visitor=rows.visitor, key_session=rows.session_id)
        .distinct()
    )
    given = mine.semi_join(
        pairs,
        [mine.visitor.identical_to(pairs.key_visitor), mine.session_id == pairs.key_session],
    )
    before = mine.filter(mine.session_id.isnull(), mine.first_s < mine.gap_from)
    in_progress = before.group_by("visitor").aggregate(day=before.day.max())
    bounds = ibis.union(
        first.select(visitor=first.key_visitor, day=first.touched_day),
        in_progress,
        given.select("visitor", "day"),
    )
    start = bounds.group_by("visitor").aggregate(day=bounds.day.min())
    # Runs of sessions that reach from one day into the next: a session starts a run unless it
    # starts on or before the last day an earlier one reached. A session within one day joins
    # no two runs that do not already overlap, so only those that span days are read.
    spanning = mine.filter(mine.last_day_no > mine.day_no)
    order = ["day_no", "last_day_no"]
    reached_before = spanning.last_day_no.max().over(
        ibis.window(group_by="visitor", order_by=order, rows=(None, -1))
    )
    marked = spanning.mutate(
        starts_run=flag(reached_before.isnull() | (spanning.day_no > reached_before))
    )
    numbered = marked.mutate(
        run=marked.starts_run.sum().over(
            ibis.window(group_by="visitor", order_by=order, rows=(None, 0))
        )
    )
    runs = (
        numbered.group_by("visitor", "run")
        .aggregate(
            run_from=numbered.day.min(),
            from_no=numbered.day_no.min(),
            to_no=numbered.last_day_no.max(),
        )
        .rename(key_visitor="visitor")
    )
    inside = start.left_join(
        runs,
        [
            start.visitor.identical_to(runs.key_visitor),
            runs.from_no < start.day.epoch_days(),
            runs.to_no >= start.day.epoch_days(),
        ],
    )
    # (at most one run per visitor contains the day)
    cuts = inside.group_by(visitor=inside.visitor).aggregate(
        from_day=inside.run_from.fill_null(inside.day).min()
    )
    gap = stored.filter(stored.session_id.isnull()).select(
        key_visitor=stored.visitor, key_day=stored.day
    )
    prior = cuts.left_join(
        gap, [cuts.visitor.identical_to(gap.key_visitor), gap.key_day < cuts.from_day]
    )
    return prior.group_by("visitor", "from_day").aggregate(
        prior_sessions=prior.key_day.count().cast("int64")
    )


def _resumed(events: ir.Table, cuts: ir.Table, definitions: Definitions) -> ir.Table:
    """The sessionised events of each cut visitor from its from_day, its gap-based sessions
    numbered on from its prior_sessions."""
    keyed = cuts.rename(key_visitor="visitor")
    visitor = events.user_id.fill_null(events.anonymous_id)
    scope = events.semi_join(
        keyed, [visitor.identical_to(keyed.key_visitor), events.day >= keyed.from_day]
    )
    rows = _sessionised(scope, definitions)
    continued = rows.join(keyed, rows.visitor.identical_to(keyed.key_visitor))
    return continued.select(
        *[
            (continued.session_no + continued.prior_sessions).name(c)
            if c == "session_no"
            else continued[c]
            for c in rows.columns
        ]
    )


# A load resumes the visitors' sessions and page-view days from the day its rows reach back to.
_RESUME = rollups.Resume(_visitor_cuts, _resumed, reads="sessions")
SESSIONS = Rollup(
    "sessions", _sessions, _gap_and_duration, _visitor, prepared=_sessionised, resume=_RESUME
)
PAGE_DAYS = Rollup("page_days", _page_days, _gap, _visitor, prepared=_sessionised, resume=_RESUME)


def _session_counts(sessions: ir.Table, keys: list[str]) -> ir.Table:
    """Per `keys` of sessions (with their period): sessions, session_seconds (summed exactly,
    then in double precision) and session_users (distinct users or visitors)."""
    return sessions.group_by(keys).aggregate(
        sessions=sessions.count(),
        session_seconds=(sessions.last_s - sessions.first_s).sum().cast("float64"),
        session_users=sessions.visitor.nunique(),
    )


def _period_sessions(query: Query) -> ir.Table:
    return query.in_period(rollups.rows(query, SESSIONS, lambda: _events(query)))


def account_sessions(query: Query) -> ir.Table:
    """Per account and period (of each session's start): `_session_counts`."""
    return _session_counts(_period_sessions(query), query.account_keys())


def segment_sessions(query: Query) -> ir.Table:
    """Per period and segment: `_session_counts`, a user with sessions under two accounts
    counting once in session_users."""
    sessions = query.with_segments(_period_sessions(query))
    return _session_counts(sessions, ["period_index", "period_start", *query.by])


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
    days = _feature_days_of(query)
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


def _feature_days_of(query: Query) -> ir.Table:
    return rollups.rows(query, FEATURE_DAYS, lambda: _events(query))


def segment_features(query: Query) -> ir.Table:
    """Per period, segment (and feature): feature_users over the segment's users (a user of two
    accounts counts once), and the other measures summed over its accounts."""
    keys = [
        "period_index",
        "period_start",
        *query.by,
        *[d for d in ("feature",) if d in query.dims],
    ]
    used = query.with_segments(query.in_period(_feature_days_of(query)))
    users = used.group_by(keys).aggregate(feature_users=used.user_id.nunique())
    accounts = query.with_segments(account_features(query))
    types = {m: "float64" if m == "core_feature_share" else "int64" for m in FEATURE_MEASURES}
    return union_sum([users, accounts.drop("feature_users")], keys, types)


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
