"""Engagement, voice-of-the-customer and support metrics (SPEC section 3), over the measures of
engagement.py, voice.py and support.py. How activity, satisfaction and first-contact resolution
are counted is set by `Definitions` and recorded with each result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tenure.metrics.definitions import Definitions
from tenure.metrics.metric import Metric, measure

_VOICE_DIMENSIONS = ("survey", "touchpoint", "survey_channel", "language")


# Distinct-user counts: what a total and a segment count.
PEOPLE = (
    "; a user counts once in every total, and in each segment with an account they were active "
    "under (so segments can add up to more than the total)"
)


def _people(metric: Metric) -> Metric:
    return replace(metric, definition=metric.definition + PEOPLE)


def _session_duration(d: Definitions) -> str:
    end = {
        "last_event": "its last event's timestamp (as PostHog)",
        "last_event_end": "its last event's end (occurred_at + duration_s)",
    }[d.session_duration]
    return (
        f"; a session lasts from its first event to {end} "
        f"(definition.session_duration = {d.session_duration})"
    )


def _fcr_denominator(d: Definitions) -> str:
    contacts = {
        "all_first_contacts": "every first contact, open ones included",
        "solved": "solved first contacts only (as Zendesk's one-touch rate)",
    }[d.fcr_denominator]
    return f"; the denominator counts {contacts} (definition.fcr_denominator = {d.fcr_denominator})"


# Metrics whose definition text depends on the definitions: a clause appended to it.
CLAUSES: dict[str, Callable[[Definitions], str]] = {
    "average_session_seconds": _session_duration,
    "fcr": _fcr_denominator,
}


def _worded(metric: Metric) -> Metric:
    """The metric with the clause of the default definitions (what `metrics list` shows)."""
    return replace(metric, definition=metric.definition + CLAUSES[metric.name](Definitions()))


def definition_of(metric: Metric, definitions: Definitions) -> str:
    """The metric's definition text under `definitions` (recorded in results)."""
    clause = CLAUSES.get(metric.name)
    if clause is None:
        return metric.definition
    base = metric.definition.removesuffix(clause(Definitions()))
    return base + clause(definitions)


def _count(
    name: str,
    area: str,
    description: str,
    measure_name: str | None = None,
    *,
    dimensions: tuple[str, ...] = (),
) -> Metric:
    m = measure_name or name
    return Metric(name, area, "count", description, m, (m,), measure(m), dimensions=dimensions)


def _rate(
    name: str,
    area: str,
    description: str,
    numerator: str,
    denominator: str,
    *,
    scale: float = 100.0,
    unit: str = "percent",
    dimensions: tuple[str, ...] = (),
) -> Metric:
    return Metric(
        name,
        area,
        unit,
        description,
        f"{numerator} / {denominator}" + (" x 100" if scale == 100 else ""),
        (numerator, denominator),
        measure(numerator),
        measure(denominator),
        scale,
        dimensions=dimensions,
    )


USAGE_METRICS: tuple[Metric, ...] = (
    # -- engagement ------------------------------------------------------------------------------
    _people(
        Metric(
            "dau",
            "engagement",
            "count",
            "Daily active users, averaged over the days of the period",
            "user-days with activity / days in the period",
            ("user_days",),
            lambda w, ctx: w.user_days,
            lambda w, ctx: w.days,
        )
    ),
    _people(_count("active_users", "engagement", "Distinct active users in the period")),
    _people(
        _count(
            "wau",
            "engagement",
            "Distinct active users in the 7 days ending on the period's last day",
        )
    ),
    _people(
        _count(
            "mau",
            "engagement",
            "Distinct active users in the 30 days ending on the period's last day",
        )
    ),
    Metric(
        "daily_active_accounts",
        "engagement",
        "count",
        "Accounts with an active user, averaged over the days of the period",
        "account-days with activity / days in the period",
        ("active_days",),
        lambda w, ctx: w.active_days,
        lambda w, ctx: w.days,
    ),
    _count("active_accounts", "engagement", "Accounts with an active user in the period"),
    _count(
        "mau_accounts",
        "engagement",
        "Accounts with an active user in the 30 days ending on the period's last day",
    ),
    _people(
        Metric(
            "stickiness",
            "engagement",
            "percent",
            "DAU / MAU (seed 004): average daily active users over the 30 days ending on the "
            "period's last day, as a share of the distinct users active in those 30 days",
            "(user-days in the 30 days / 30) / mau x 100",
            ("user_days_30", "mau"),
            lambda w, ctx: w.user_days_30.cast("float64") / 30,
            lambda w, ctx: w.mau,
            100.0,
        )
    ),
    replace(
        _count("sessions", "engagement", "Sessions started in the period (session_id, else a gap)"),
        definition="sessions; a session whose events fall under two accounts belongs to its first "
        "event's account (the first that has one), and to the period of its start",
    ),
    _worded(
        Metric(
            "average_session_seconds",
            "engagement",
            "seconds",
            "Average session duration (seed 004): total seconds of all sessions / sessions",
            "session_seconds / sessions",
            ("session_seconds", "sessions"),
            measure("session_seconds"),
            measure("sessions"),
        )
    ),
    _people(
        _rate(
            "sessions_per_user",
            "engagement",
            "Sessions per user or visitor with a session",
            "sessions",
            "session_users",
            scale=1.0,
            unit="ratio",
        )
    ),
    _count("page_views", "engagement", "Page views (events named page_view)", dimensions=("page",)),
    _count(
        "unique_page_views",
        "engagement",
        "Sessions in which the page was viewed, summed over pages",
        dimensions=("page",),
    ),
    _count(
        "feature_events",
        "engagement",
        "Events that used a feature",
        dimensions=("feature",),
    ),
    _people(
        _count("feature_users", "engagement", "Users who used the feature", dimensions=("feature",))
    ),
    _people(
        _rate(
            "feature_adoption_rate",
            "engagement",
            "Users who used the feature (any feature without a split) / active users",
            "feature_users",
            "active_users",
            dimensions=("feature",),
        )
    ),
    _rate(
        "feature_adoption_rate_accounts",
        "engagement",
        "Accounts that used the feature / active accounts",
        "feature_accounts",
        "active_accounts",
        dimensions=("feature",),
    ),
    _rate(
        "usage_frequency_days",
        "engagement",
        "Product usage frequency: days with activity per active account in the period",
        "active_days",
        "active_accounts",
        scale=1.0,
        unit="days",
    ),
    _rate(
        "usage_breadth_users",
        "engagement",
        "Product usage breadth: active users per active account",
        "active_users",
        "active_accounts",
        scale=1.0,
        unit="ratio",
    ),
    _rate(
        "usage_depth",
        "engagement",
        "Product usage depth: core features used / core features defined, averaged over "
        "active accounts (definition.core_features; every feature seen when unset)",
        "core_feature_share",
        "active_accounts",
    ),
    _count(
        "shares",
        "engagement",
        "Share events, by channel (properties.channel)",
        dimensions=("share_channel",),
    ),
    _count("mentions", "engagement", "Mention events, by channel", dimensions=("share_channel",)),
    _rate(
        "conversion_rate",
        "engagement",
        "Conversions / visitors (seed 003, 004): visitors with a visit who converted in the "
        "period / distinct visitors with a visit (definition.visit_event, conversion_event)",
        "visitor_conversions",
        "visitors",
    ),
    _rate(
        "lead_conversion_rate",
        "engagement",
        "Conversions / leads (seed 003): leads who converted in the period / distinct leads",
        "lead_conversions",
        "leads",
    ),
    _count("conversions", "engagement", "Visitors and users with the conversion event"),
    _rate(
        "free_to_paid_rate",
        "engagement",
        "Accounts turning paid / accounts signing up in the period",
        "paid_conversions",
        "signups",
    ),
    _rate(
        "onboarding_completion_rate",
        "engagement",
        "Accounts that completed every onboarding step / accounts that started, by the period "
        "of their first step",
        "onboarding_completed",
        "onboarding_started",
    ),
    # -- product performance (seed 004) ---------------------------------------------------------
    _count("defects", "performance", "Defect events (definition.defect_event)"),
    Metric(
        "availability",
        "performance",
        "percent",
        "Share of the period without downtime: 1 - downtime seconds of incidents (company-wide) "
        "/ seconds in the period",
        "(1 - company downtime_seconds / (days x 86400)) x 100",
        ("company_downtime_seconds",),
        lambda w, ctx: (1 - w.company_downtime_seconds / (w.days * 86400)) * 100,
    ),
    _rate(
        "response_time_seconds",
        "performance",
        "Mean response time of timed requests (definition.request_event)",
        "request_seconds",
        "requests",
        scale=1.0,
        unit="seconds",
    ),
    # -- voice of the customer ----------------------------------------------------------------------
    Metric(
        "nps",
        "voice",
        "score",
        "Net Promoter Score: % promoters (9-10) - % detractors (0-6), from -100 to 100",
        "(nps_promoters - nps_detractors) / nps_responses x 100",
        ("nps_promoters", "nps_detractors", "nps_responses"),
        lambda w, ctx: w.nps_promoters - w.nps_detractors,
        lambda w, ctx: w.nps_responses,
        100.0,
        dimensions=_VOICE_DIMENSIONS,
    ),
    _rate(
        "nps_promoters_share",
        "voice",
        "Promoters / NPS answers",
        "nps_promoters",
        "nps_responses",
        dimensions=_VOICE_DIMENSIONS,
    ),
    _rate(
        "nps_detractors_share",
        "voice",
        "Detractors / NPS answers",
        "nps_detractors",
        "nps_responses",
        dimensions=_VOICE_DIMENSIONS,
    ),
    _rate(
        "csat",
        "voice",
        "Customer satisfaction: satisfied answers (top two boxes, or definition.csat_satisfied) "
        "/ all CSAT answers",
        "csat_satisfied",
        "csat_responses",
        dimensions=_VOICE_DIMENSIONS,
    ),
    _rate(
        "csat_mean",
        "voice",
        "Mean CSAT score",
        "csat_score_sum",
        "csat_responses",
        scale=1.0,
        unit="score",
        dimensions=_VOICE_DIMENSIONS,
    ),
    _rate(
        "ces",
        "voice",
        "Customer effort score (seed 004): positive answers (above the scale's midpoint, or "
        "definition.ces_positive) / all CES answers",
        "ces_positive",
        "ces_responses",
        dimensions=_VOICE_DIMENSIONS,
    ),
    _rate(
        "ces_mean",
        "voice",
        "Mean CES score",
        "ces_score_sum",
        "ces_responses",
        scale=1.0,
        unit="score",
        dimensions=_VOICE_DIMENSIONS,
    ),
    _count(
        "survey_responses",
        "voice",
        "Survey answers of every kind",
        "responses",
        dimensions=_VOICE_DIMENSIONS,
    ),
    # -- support --------------------------------------------------------------------------------------
    _count("tickets", "support", "Tickets opened", dimensions=("ticket_channel",)),
    _worded(
        _rate(
            "fcr",
            "support",
            "First-contact resolution: first contacts resolved in a single interaction / first "
            "contacts: all, or solved ones (criteria in definition.fcr_*)",
            "first_contact_resolutions",
            "first_contacts",
            dimensions=("ticket_channel",),
        )
    ),
    _rate(
        "tickets_per_account",
        "support",
        "Tickets opened / paying accounts at the period's end",
        "tickets",
        "customers_end",
        scale=1.0,
        unit="ratio",
    ),
    _count(
        "backlog", "support", "Tickets open at the period's end", dimensions=("ticket_channel",)
    ),
    _rate(
        "backlog_age_days",
        "support",
        "Average age of the tickets open at the period's end",
        "backlog_age_days",
        "backlog",
        scale=1.0,
        unit="days",
        dimensions=("ticket_channel",),
    ),
    *(
        Metric(
            name,
            "support",
            "hours",
            description,
            name,
            ("tickets", name),
            measure(name),
            dimensions=("ticket_channel",),
        )
        for name, description in (
            (
                "first_response_hours_median",
                "Median time to first response, tickets opened in the period",
            ),
            ("first_response_hours_p90", "90th percentile of the time to first response"),
            (
                "resolution_hours_median",
                "Median time to resolution, resolved tickets opened in the period",
            ),
            ("resolution_hours_p90", "90th percentile of the time to resolution"),
        )
    ),
)
