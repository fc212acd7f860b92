"""Request bodies and response documents of the API. Rows whose columns depend on the metric or
the segments asked for are open dicts (`Row`); everything else is typed."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# Row ids in paths: positive and within a 32-bit integer, which every app database stores.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


def _iso_day(value: Any) -> Any:
    """A day written as YYYY-MM-DD (Pydantic alone would also take a number of seconds)."""
    if isinstance(value, str) and not _DAY.fullmatch(value):
        raise ValueError("write the day as YYYY-MM-DD")
    if isinstance(value, int | float):
        raise ValueError("write the day as YYYY-MM-DD")
    return value


_DAY = re.compile(r"(19|20|21)\d\d-\d\d-\d\d")
# Dates a calendar can shift by years without leaving the range of Python dates; the pattern
# tells the OpenAPI schema the years allowed (JSON Schema has no minimum for a date).
Day = Annotated[
    dt.date,
    BeforeValidator(_iso_day),
    Field(
        ge=dt.date(1900, 1, 1),
        le=dt.date(2199, 12, 31),
        json_schema_extra={"pattern": "^" + _DAY.pattern + "$"},
    ),
]
Row = dict[str, Any]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# An instant: the store keeps UTC without a zone; answers say so (RFC 3339 needs an offset).
Instant = Annotated[dt.datetime, AfterValidator(_utc)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests -------------------------------------------------------------------------------------
class GoalIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(metric|number|boolean|tasks)$")
    owner: str | None = Field(default=None, max_length=200)
    metric: str | None = Field(default=None, max_length=100)
    segment_by: str | None = Field(default=None, max_length=100)
    segment_value: str | None = Field(default=None, max_length=200)
    unit: str = Field(default="number", max_length=20)  # a metric goal takes the catalog's
    start_value: float = 0.0
    target_value: float = 1.0
    current_value: float | None = None
    done: bool = False
    tasks: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    start_date: dt.date
    due_date: dt.date
    display: str = Field(default="bar", pattern="^(bar|pie|thermometer)$")


class GoalPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, pattern="^(metric|number|boolean|tasks)$")
    owner: str | None = Field(default=None, max_length=200)
    metric: str | None = Field(default=None, max_length=100)
    segment_by: str | None = Field(default=None, max_length=100)
    segment_value: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=20)
    start_value: float | None = None
    target_value: float | None = None
    current_value: float | None = None
    done: bool | None = None
    tasks: list[dict[str, Any]] | None = Field(default=None, max_length=200)
    start_date: dt.date | None = None
    due_date: dt.date | None = None
    display: str | None = Field(default=None, pattern="^(bar|pie|thermometer)$")


class SurveyIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(nps|csat|ces|custom)$")
    question: str = Field(min_length=1, max_length=1000)
    comment_prompt: str = Field(default="Anything you would like to add?", max_length=1000)
    scale_min: int | None = Field(default=None, ge=0, le=100)
    scale_max: int | None = Field(default=None, ge=1, le=100)
    touchpoint: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=20)


class InvitationIn(_Body):
    account_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    days: int = Field(default=14, ge=1, le=365)
    channel: str = Field(default="email", max_length=50)


class RuleIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    actions: list[dict[str, Any]] = Field(min_length=1, max_length=20)
    enabled: bool = True


class RulePatch(_Body):
    """The parts of a rule to change; the rule they make is checked as at creation."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    trigger: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] | None = Field(default=None, max_length=20)
    actions: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=20)
    enabled: bool | None = None


class Widget(_Body):
    metric: str = Field(min_length=1, max_length=100)
    type: str = Field(pattern="^(number|line|bar|pie)$")
    by: str | None = Field(default=None, max_length=100)


class DashboardIn(_Body):
    widgets: list[Widget] = Field(max_length=30)


class SavedViewIn(_Body):
    """A named view of a page: its search, filters and sort as query parameters."""

    page: str = Field(pattern="^(accounts|voice)$")
    name: str = Field(min_length=1, max_length=100)
    params: dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=500)]] = (
        Field(default_factory=dict, max_length=20)
    )


class SavedViewOut(SavedViewIn):
    id: int


class IngestIn(_Body):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


class SourceIn(_Body):
    """A data source. Its credential is `secret` (kept in the server's secrets file, never
    shown again) or the name of the environment variable the server reads it from
    (`secret_env`; default: the kind's own, e.g. STRIPE_API_KEY). `every_minutes` null: synced
    only when asked."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    options: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=2000)]] = (
        Field(default_factory=dict, max_length=50)
    )
    secret: str | None = Field(
        default=None, min_length=1, max_length=4000, json_schema_extra={"writeOnly": True}
    )
    secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
    every_minutes: int | None = Field(default=60, ge=1, le=10080)


# -- responses ------------------------------------------------------------------------------------
class Page(BaseModel):
    """One page of rows, with the total before paging."""

    items: list[Row]
    total: int
    limit: int
    offset: int


class MetricPage(Page):
    units: dict[str, str]
    definitions: dict[str, str]
    reporting_currency: str


class FeedbackPage(Page):
    themes: list[Row]


Number = int | float | Decimal


class BehindPage(Page):
    """The accounts (or people) behind one number of a chart (one page of them), with the
    number, the numerator and denominator of its ratio (null denominator: not a ratio) and what
    they count; money as exact decimal strings in the reporting currency."""

    definition: str
    unit: str
    value: Number | None
    numerator: Number | None
    denominator: Number | None
    reporting_currency: str


class DrillPage(BehindPage):
    """The accounts behind one catalog metric in one period."""

    metric: str
    period_start: dt.date
    grain: str


class ComparePeriod(BaseModel):
    """One period: the metric under the workspace's policy and under the other, their
    difference, and its parts (setting -> the change from switching it, in `order`)."""

    period_start: dt.date
    workspace: Number
    other: Number
    difference: Number
    parts: dict[str, Number]


class CompareAccount(BaseModel):
    """One account whose value one setting's switch changed in one period."""

    period_start: dt.date
    setting: str
    account_id: str
    name: str | None
    before: Number
    after: Number
    difference: Number


class CompareSetting(BaseModel):
    setting: str
    workspace: str
    other: str


class PolicyComparison(BaseModel):
    """A metric under the workspace's revenue policy and under a vendor preset. The settings
    that differ are switched one at a time in `order` (RevenuePolicy's field order), so each
    period's parts add up exactly to its difference; money as exact decimal strings."""

    metric: str
    unit: str
    policy: str
    reporting_currency: str
    order: list[CompareSetting]
    periods: list[ComparePeriod]
    accounts: list[CompareAccount]


class HealthComponent(BaseModel):
    """One component of an account's health: its score (0-100), weight, and what it scored in
    words."""

    component: str
    score: float | None
    weight: float
    measure: str | None


class AccountRow(BaseModel):
    """One account of the account snapshot. Health, band, trend and drivers are null for an
    account that is not paying; churn figures are null until a churn model is trained."""

    account_id: str
    name: str | None
    owner: str | None
    paid_plan: str | None
    mrr: Decimal
    arr: Decimal
    paying: bool
    next_renewal: dt.date | None
    scheduled_churn_on: dt.date | None
    health: float | None
    band: str | None
    trend: float | None
    health_drivers: list[str] | None
    churn_probability: float | None
    churn_drivers: list[str] | None
    last_activity: Instant | None
    open_tickets: int
    last_nps: float | None
    last_nps_at: Instant | None
    refreshed_at: Instant


class AccountDetail(AccountRow):
    health_components: list[HealthComponent] | None
    reporting_currency: str


class SnapshotInfo(BaseModel):
    """What the account snapshot describes (the start of `as_of`), when it was built (UTC), and
    whether a load arrived since (`stale`: a refresh is due or under way)."""

    as_of: dt.date
    refreshed_at: Instant
    stale: bool
    loads: int
    last_load_at: Instant | None
    accounts: int


class AccountPage(BaseModel):
    """One page of the account snapshot, the number of accounts that match, the currency of its
    money columns, and how fresh the snapshot is."""

    items: list[AccountRow]
    total: int
    limit: int
    offset: int
    reporting_currency: str
    snapshot: SnapshotInfo


class CatalogEntry(BaseModel):
    name: str
    area: str
    unit: str
    description: str
    definition: str
    dimensions: list[str]


class Survival(BaseModel):
    curve: list[Row]
    summary: list[Row]


class Timeline(BaseModel):
    mrr: list[Row]
    events: list[Row]
    answers: list[Row]
    tickets: list[Row]


class GoalOut(BaseModel):
    id: int
    name: str
    kind: str
    owner: str | None
    metric: str | None
    segment_by: str | None
    segment_value: str | None
    unit: str
    start_value: float
    target_value: float
    current_value: float | None
    done: bool
    tasks: list[dict[str, Any]]
    start_date: dt.date
    due_date: dt.date
    display: str
    value: float | None
    progress: float
    expected: float
    status: str


class GoalPage(BaseModel):
    items: list[GoalOut]
    total: int
    limit: int
    offset: int
    reporting_currency: str


class GoalRecord(BaseModel):
    recorded_at: str
    value: float | None
    progress: float
    status: str


class SurveyOut(BaseModel):
    id: int
    name: str
    kind: str
    question: str
    scale_min: int
    scale_max: int
    touchpoint: str | None
    language: str | None


class SurveyCreated(BaseModel):
    id: int
    kind: str
    scale_min: int
    scale_max: int


class InvitationOut(BaseModel):
    token: str
    url: str


class Created(BaseModel):
    id: int


class RuleOut(BaseModel):
    id: int
    name: str
    enabled: bool
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    failures: int = 0
    last_error: str | None = None
    last_error_at: str | None = None


class RuleFailure(BaseModel):
    """A rule that could not be evaluated in a run; the other rules still ran."""

    rule_id: int
    error: str


class Fired(BaseModel):
    rule_id: int
    subject: str
    window: str


class Preview(Fired):
    """What a rule would fire, with the values its actions would see."""

    variables: dict[str, Any]


class Delivery(BaseModel):
    delivery_id: int
    rule_id: int
    subject: str
    window: str
    fired_at: str
    action: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: str | None


class RunOut(BaseModel):
    fired: list[Fired]
    sent: int
    retrying: int
    dead: int
    reclaimed: int = 0
    failed: list[RuleFailure] = Field(default_factory=list)


class DryRunOut(BaseModel):
    """What a rule would fire now, or why it cannot be evaluated."""

    fired: list[Preview]
    failed: list[RuleFailure]


class Status(BaseModel):
    status: str


class DashboardOut(BaseModel):
    widgets: list[Widget]


class Reject(BaseModel):
    row: int
    column: str
    value: str | None
    reason: str


class IngestOut(BaseModel):
    table: str
    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    rejects: list[Reject]
    warnings: list[str] = Field(
        default_factory=list,
        description="What loaded but deserves a look, e.g. rows naming accounts not in accounts",
    )


class JobOut(BaseModel):
    """A background job: `state` is idle, ok, retrying or dead (its last run failed every
    attempt; the next scheduled run tries again)."""

    name: str
    state: str
    runs: int
    last_run: str | None
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    next_run: str | None


class SourceOut(BaseModel):
    """A data source and its last sync: `status` is null (never synced), running, ok or failed;
    `records` pulled, rows `loaded` (inserted or updated) and rows `rejected` by the loader;
    `message` says what the sync did or why it failed. The credential is never shown, only
    where it comes from."""

    name: str
    kind: str
    options: dict[str, str]
    credential: str
    schedule: str
    every_minutes: int | None
    created_at: Instant
    status: str | None
    started_at: Instant | None
    finished_at: Instant | None
    records: int | None
    loaded: int | None
    rejected: int | None
    message: str | None
    next_run_at: Instant | None


class SyncQueued(BaseModel):
    """A sync started as the background job `job`; GET /api/sources/{name} shows how it went."""

    job: str
    status: str


class ProblemDetails(BaseModel):
    """An error (RFC 9457), served as application/problem+json."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class FeedbackDriver(BaseModel):
    """A theme or key phrase that separates detractors from promoters in one segment (the `by`
    values) and period: its log-odds z-score with an informative prior (> 0: typical of
    detractors), how many detractors and promoters mention it (and their shares, %), and the
    response ids of their comments."""

    segment: dict[str, Any]
    period: dt.date | None
    term: str
    kind: str
    z: float
    detractor_count: int
    promoter_count: int
    detractor_share: float
    promoter_share: float
    comment_ids: list[str]


class FeedbackDriverPage(BaseModel):
    items: list[FeedbackDriver]
    total: int
    limit: int
    offset: int


class Stickiness(BaseModel):
    unit: str
    grain: str
    items: list[Row]  # period_start, segments, days_active, users (or accounts)


class RetentionRow(BaseModel):
    cohort_start: dt.date
    offset: int
    period_start: dt.date
    cohort_size: int
    retained: int
    rate: float | None


class Retention(BaseModel):
    kind: str
    unit: str
    grain: str
    bracket: str
    items: list[RetentionRow]
