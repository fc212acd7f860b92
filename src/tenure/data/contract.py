"""The canonical data contract: every table Tenure loads, its columns, types and rules, declared once.

Loaders, validation, the demo generator, the README and `tenure contract` all read this module;
nothing else names a canonical column's type or rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    """A column's logical type; `sql` is how the embedded store keeps it."""

    STRING = "string"
    TIMESTAMP = "timestamp"  # naive, always UTC
    DATE = "date"
    MONEY = "money"  # exact: money is summed
    RATE = "rate"
    FRACTION = "fraction"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUM = "enum"  # lower-cased, one of `choices`
    CURRENCY = "currency"  # ISO 4217, upper-cased, reporting currency or one with fx_rates
    JSON = "json"  # a JSON document, validated
    BILLING_PERIOD = "billing_period"  # a count of billing units; words like "annual" are read too

    @property
    def sql(self) -> str:
        return _SQL_TYPES[self]


_SQL_TYPES = {
    Kind.STRING: "VARCHAR",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.DATE: "DATE",
    Kind.MONEY: "DECIMAL(18,4)",
    Kind.RATE: "DECIMAL(18,8)",
    Kind.FRACTION: "DECIMAL(9,6)",
    Kind.INTEGER: "BIGINT",
    Kind.NUMBER: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.ENUM: "VARCHAR",
    Kind.CURRENCY: "VARCHAR",
    Kind.JSON: "VARCHAR",
    Kind.BILLING_PERIOD: "BIGINT",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    description: str = ""
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    default: str | None = None  # SQL over the row's typed columns, used when the value is missing


@dataclass(frozen=True)
class RowCheck:
    """A rule over several columns; `bad_when` is SQL over the typed row and is TRUE for a bad row."""

    column: str  # the column named in the rejects file
    bad_when: str
    reason: str


@dataclass(frozen=True)
class TableContract:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    row_checks: tuple[RowCheck, ...] = ()
    keeps_attributes: bool = False  # extra columns become segment attributes
    normalise: dict[str, str] = field(default_factory=dict)  # column -> SQL applied after typing
    example: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required and c.default is None)


def _after(later: str, earlier: str) -> RowCheck:
    return RowCheck(later, f"{later} < {earlier}", f"{later} is before {earlier}")


_ID = Kind.STRING
_CURRENCY = Column("currency", Kind.CURRENCY, True, "ISO 4217 code, e.g. USD")

ACCOUNTS = TableContract(
    name="accounts",
    description="One row per customer account. Any extra column (plan, country, industry, owner, "
    "channel, seats, ...) is kept as a segment attribute.",
    key=("account_id",),
    columns=(
        Column("account_id", _ID, True, "your id for the account"),
        Column("name", Kind.STRING, description="display name"),
        Column("created_at", Kind.TIMESTAMP, True, "when the account was created"),
        Column(
            "valid_from",
            Kind.TIMESTAMP,
            description="when this row's attribute values took effect (default: the load "
            "time); a change is kept in account_history from then",
        ),
    ),
    keeps_attributes=True,
    example={
        "account_id": "A00042",
        "name": "Sakura Logistics",
        "created_at": "2025-02-03T09:12:00Z",
        "plan": "growth",
        "country": "JP",
    },
)

USERS = TableContract(
    name="users",
    description="People who use the product, each belonging to an account. Extra columns are kept "
    "as attributes.",
    key=("user_id",),
    columns=(
        Column("user_id", _ID, True),
        Column("account_id", _ID, True),
        Column("created_at", Kind.TIMESTAMP),
    ),
    keeps_attributes=True,
    example={
        "user_id": "U000107",
        "account_id": "A00042",
        "created_at": "2025-02-03",
        "role": "admin",
    },
)

SUBSCRIPTION_STATUSES = ("active", "past_due", "unpaid", "trialing", "paused", "canceled")

SUBSCRIPTIONS = TableContract(
    name="subscriptions",
    description="Recurring contracts. MRR = amount x quantity x (1 - discount) / billing period in "
    "months. A change of price or seats is a new row that starts when the old one ends.",
    key=("subscription_id",),
    columns=(
        Column("subscription_id", _ID, True),
        Column("account_id", _ID, True),
        Column("plan", Kind.STRING, True),
        Column("started_at", Kind.TIMESTAMP, True),
        Column("ended_at", Kind.TIMESTAMP, description="empty while active"),
        Column("canceled_at", Kind.TIMESTAMP, description="when the customer asked to cancel"),
        Column(
            "billing_period",
            Kind.BILLING_PERIOD,
            description="billing units per invoice: 1, 3, 12, or monthly / quarterly / annual",
            minimum=1,
            default="1",
        ),
        Column(
            "billing_unit",
            Kind.ENUM,
            choices=("month", "year", "week", "day"),
            default="'month'",
        ),
        Column("amount", Kind.MONEY, True, "price per billing period per unit", minimum=0),
        Column("quantity", Kind.INTEGER, description="seats or units", minimum=0, default="1"),
        Column(
            "discount",
            Kind.FRACTION,
            description="0.1 for 10% off",
            minimum=0,
            maximum=1,
            default="0",
        ),
        _CURRENCY,
        Column("trial_ends_at", Kind.TIMESTAMP, description="free until then"),
        Column("paused_from", Kind.TIMESTAMP, description="out of MRR from then (policy.pause)"),
        Column("paused_until", Kind.TIMESTAMP, description="resumed then; empty while paused"),
        Column(
            "status",
            Kind.ENUM,
            description="billing status (policy.past_due reads past_due and unpaid)",
            choices=SUBSCRIPTION_STATUSES,
        ),
    ),
    row_checks=(
        _after("ended_at", "started_at"),
        _after("canceled_at", "started_at"),
        _after("trial_ends_at", "started_at"),
        _after("paused_from", "started_at"),
        _after("paused_until", "paused_from"),
        RowCheck(
            "paused_until",
            "paused_until IS NOT NULL AND paused_from IS NULL",
            "paused_until needs paused_from",
        ),
    ),
    example={
        "subscription_id": "S000311",
        "account_id": "A00042",
        "plan": "growth",
        "started_at": "2025-02-17",
        "ended_at": "",
        "billing_period": "12",
        "amount": "9480.00",
        "quantity": "12",
        "discount": "0.1",
        "currency": "JPY",
    },
)

ORDERS = TableContract(
    name="orders",
    description="Purchases outside the subscription (one-time, add-ons) and refunds. Refund amounts "
    "may be written positive or negative; they are stored negative.",
    key=("order_id",),
    columns=(
        Column("order_id", _ID, True),
        Column("account_id", _ID, True),
        Column("ordered_at", Kind.TIMESTAMP, True),
        Column("amount", Kind.MONEY, True, "what was charged, tax included if `tax` is given"),
        _CURRENCY,
        Column(
            "tax",
            Kind.MONEY,
            description="the tax part of amount (optional; policy.taxes decides whether revenue "
            "counts it)",
            default="0",
        ),
        Column(
            "kind",
            Kind.ENUM,
            choices=("one_time", "subscription", "refund"),
            default="'one_time'",
        ),
    ),
    row_checks=(
        RowCheck(
            "amount",
            "amount < 0 AND kind <> 'refund'",
            "negative amount is only allowed for refunds",
        ),
        RowCheck("tax", "tax < 0 AND kind <> 'refund'", "negative tax is only allowed for refunds"),
        RowCheck("tax", "abs(tax) > abs(amount)", "tax is more than the amount it is part of"),
    ),
    normalise={
        "amount": "CASE WHEN kind = 'refund' THEN -abs(amount) ELSE amount END",
        "tax": "CASE WHEN kind = 'refund' THEN -abs(tax) ELSE tax END",
    },
    example={
        "order_id": "O0009120",
        "account_id": "A00042",
        "ordered_at": "2025-06-01T10:00:00Z",
        "amount": "120.00",
        "currency": "USD",
        "kind": "one_time",
    },
)

EVENTS = TableContract(
    name="events",
    description="Product-usage and web events. Needs user_id (or anonymous_id for visitors).",
    key=("event_id",),
    columns=(
        Column("event_id", _ID, True),
        Column("occurred_at", Kind.TIMESTAMP, True),
        Column("name", Kind.STRING, True, "e.g. page_view, feature_used, share, signup"),
        Column("account_id", _ID),
        Column("user_id", _ID),
        Column("anonymous_id", _ID),
        Column("session_id", _ID),
        Column("feature", Kind.STRING),
        Column("page", Kind.STRING),
        Column("duration_s", Kind.NUMBER, minimum=0),
        Column("properties", Kind.JSON, description='JSON object, e.g. {"channel": "slack"}'),
    ),
    row_checks=(
        RowCheck(
            "user_id",
            "user_id IS NULL AND anonymous_id IS NULL",
            "an event needs a user_id or an anonymous_id",
        ),
    ),
    example={
        "event_id": "E000000001",
        "occurred_at": "2025-06-01T10:00:03Z",
        "name": "feature_used",
        "account_id": "A00042",
        "user_id": "U000107",
        "session_id": "S1",
        "feature": "reports",
        "duration_s": "42",
    },
)

_SCALE_MIN = "CASE survey WHEN 'nps' THEN 0 ELSE 1 END"
_SCALE_MAX = "CASE survey WHEN 'nps' THEN 10 WHEN 'ces' THEN 7 ELSE 5 END"

SURVEY_RESPONSES = TableContract(
    name="survey_responses",
    description="Answers to NPS (0-10), CSAT (1-5) and CES (1-7) or custom surveys; other scales "
    "by scale_min / scale_max.",
    key=("response_id",),
    columns=(
        Column("response_id", _ID, True),
        Column("account_id", _ID),
        Column("user_id", _ID),
        Column("survey", Kind.ENUM, True, choices=("nps", "csat", "ces", "custom")),
        Column("score", Kind.NUMBER, True),
        Column("scale_min", Kind.NUMBER, default=_SCALE_MIN),
        Column("scale_max", Kind.NUMBER, default=_SCALE_MAX),
        Column("comment", Kind.STRING),
        Column("touchpoint", Kind.STRING, description="e.g. onboarding, support, quarterly"),
        Column("channel", Kind.STRING, description="e.g. email, in_app, web"),
        Column("language", Kind.STRING, description="BCP 47 code, e.g. ja"),
        Column("responded_at", Kind.TIMESTAMP, True),
    ),
    row_checks=(
        RowCheck("scale_max", "scale_max <= scale_min", "scale_max must be above scale_min"),
        RowCheck(
            "score", "score < scale_min OR score > scale_max", "score is outside the survey scale"
        ),
    ),
    example={
        "response_id": "R000051",
        "account_id": "A00042",
        "user_id": "U000107",
        "survey": "nps",
        "score": "9",
        "comment": "サポートがとても丁寧です",
        "language": "ja",
        "responded_at": "2025-07-01",
    },
)

TICKETS = TableContract(
    name="tickets",
    description="Support contacts. contacts = customer contacts until resolved (1 = first-contact).",
    key=("ticket_id",),
    columns=(
        Column("ticket_id", _ID, True),
        Column("account_id", _ID),
        Column("channel", Kind.STRING, True, "phone, chat, email, ..."),
        Column("opened_at", Kind.TIMESTAMP, True),
        Column("first_response_at", Kind.TIMESTAMP),
        Column("resolved_at", Kind.TIMESTAMP),
        Column("status", Kind.ENUM, True, choices=("open", "resolved", "abandoned")),
        Column("contacts", Kind.INTEGER, minimum=1, default="1"),
        Column("reopened_at", Kind.TIMESTAMP),
        Column("confirmed_resolved", Kind.BOOLEAN, description="the customer's own confirmation"),
    ),
    row_checks=(
        _after("first_response_at", "opened_at"),
        _after("resolved_at", "opened_at"),
        _after("reopened_at", "opened_at"),
    ),
    example={
        "ticket_id": "T000777",
        "account_id": "A00042",
        "channel": "chat",
        "opened_at": "2025-06-03T08:00:00Z",
        "first_response_at": "2025-06-03T08:02:10Z",
        "resolved_at": "2025-06-03T08:20:00Z",
        "status": "resolved",
        "contacts": "1",
    },
)

COST_CATEGORIES = (
    "customer_success",
    "support",
    "onboarding",
    "training",
    "customer_marketing",
    "acquisition_marketing",
    "sales",
)

COSTS = TableContract(
    name="costs",
    description="Spend by category and period, for CRC, CAC, LTV:CAC and payback.",
    key=("period_start", "period_end", "category", "currency"),
    columns=(
        Column("period_start", Kind.DATE, True),
        Column("period_end", Kind.DATE, True, "last day of the period, inclusive"),
        Column("category", Kind.ENUM, True, choices=COST_CATEGORIES),
        Column("amount", Kind.MONEY, True, minimum=0),
        _CURRENCY,
    ),
    row_checks=(_after("period_end", "period_start"),),
    example={
        "period_start": "2025-06-01",
        "period_end": "2025-06-30",
        "category": "support",
        "amount": "18250.00",
        "currency": "USD",
    },
)

FX_RATES = TableContract(
    name="fx_rates",
    description="Units of the reporting currency per unit of `currency`, from `date` on. Load it "
    "before money tables in other currencies.",
    key=("date", "currency"),
    columns=(
        Column("date", Kind.DATE, True),
        Column("currency", Kind.CURRENCY, True),
        Column("rate_to_reporting", Kind.RATE, True, minimum=0, exclusive_minimum=True),
    ),
    example={"date": "2025-06-01", "currency": "JPY", "rate_to_reporting": "0.0069"},
)

ACCOUNT_HISTORY = TableContract(
    name="account_history",
    description="The history of account attributes: each value and when it took effect. A load "
    "of accounts that changes an attribute adds its row (at the row's valid_from, else the load "
    "time); a history kept elsewhere can be loaded here directly. Before its first row an "
    "attribute has its first recorded value.",
    key=("account_id", "attribute", "valid_from"),
    columns=(
        Column("account_id", _ID, True),
        Column("attribute", Kind.STRING, True, "an accounts column (owner, tier, country, ...)"),
        Column("value", Kind.STRING, description="the value from valid_from on (empty: none)"),
        Column("valid_from", Kind.TIMESTAMP, True, "when the value took effect"),
    ),
    example={
        "account_id": "A00042",
        "attribute": "owner",
        "value": "Mika",
        "valid_from": "2025-09-01",
    },
)

CONTRACTS: dict[str, TableContract] = {
    t.name: t
    for t in (
        ACCOUNTS,
        USERS,
        SUBSCRIPTIONS,
        ORDERS,
        EVENTS,
        SURVEY_RESPONSES,
        TICKETS,
        COSTS,
        FX_RATES,
    )
}

# Load order that satisfies the one cross-table rule (currencies need fx_rates first).
LOAD_ORDER: tuple[str, ...] = tuple(CONTRACTS)[-1:] + tuple(CONTRACTS)[:-1]


# Tables derived from the canonical ones by the loader, which can also be loaded directly.
DERIVED: dict[str, TableContract] = {ACCOUNT_HISTORY.name: ACCOUNT_HISTORY}


def contract_for(table: str) -> TableContract:
    try:
        return CONTRACTS[table] if table in CONTRACTS else DERIVED[table]
    except KeyError:
        from tenure.errors import ContractError

        raise ContractError(
            f"unknown table {table!r}; choose one of: {', '.join([*CONTRACTS, *DERIVED])}"
        ) from None
