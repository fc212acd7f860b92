"""When-then automations: "when TRIGGER and CONDITIONS then ACTIONS".

Triggers find subjects, each with a window: a cron schedule (the tick), a metric crossing a
threshold (the period), an account entering a health band (the ISO week), a survey answer
matching a condition, an order or event some days ago, a ticket left open too long (once per
subject). A firing is recorded once per (rule, subject, window), so running again never repeats
it. Each action of a firing is a delivery: tried at once, retried with exponential backoff when
it fails, and kept as a dead letter after the last attempt, never dropped. A dry run lists what
would fire and records nothing.

Rules are checked against typed schemas when created or changed (the error names the field, e.g.
`trigger.hours`), yet a rule can still fail when it runs (its data changed, or it predates the
checks): each rule is evaluated on its own, and one that raises is logged and recorded on the
rule while the others fire. A delivery being sent is leased; one whose sender died mid-send is
taken back by a later run when the lease expires, and sent again with the same webhook-id.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    Tag,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tenure.app import actions
from tenure.app.scheduler import crontab
from tenure.app.store import AutomationRule, Delivery, Firing, Store, now
from tenure.app.tables import AppTables
from tenure.errors import TenureError
from tenure.metrics.tables import Tables

log = logging.getLogger(__name__)

TRIGGERS = ("schedule", "metric", "health_band", "survey_response", "event_delay", "state_duration")
MAX_ATTEMPTS = 5
LEASE_SECONDS = 300.0  # a delivery in 'sending' longer than this was abandoned by a dead sender


def lease_seconds() -> float:
    """How long a sender holds a delivery: $TENURE_DELIVERY_LEASE_SECONDS or LEASE_SECONDS. Keep
    it above the outbox timeout, or a slow but live send may be sent again (same webhook-id)."""
    return float(os.environ.get("TENURE_DELIVERY_LEASE_SECONDS", LEASE_SECONDS))


@dataclass
class RunReport:
    fired: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    reclaimed: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {rule_id, error}


# -- rule schemas -----------------------------------------------------------------------------------
def _cron_line(expression: str) -> str:
    try:
        crontab(expression)
    except TenureError as exc:
        raise PydanticCustomError("cron", "{reason}", {"reason": str(exc)}) from None
    return expression


def _known_metric(name: str) -> str:
    from tenure.metrics.catalog import metric

    try:
        metric(name)
    except TenureError as exc:
        raise PydanticCustomError("metric", "{reason}", {"reason": str(exc)}) from None
    return name


Text = Annotated[str, StringConstraints(min_length=1)]


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleTrigger(_Trigger):
    type: Literal["schedule"]
    cron: Annotated[str, AfterValidator(_cron_line)]


class MetricTrigger(_Trigger):
    type: Literal["metric"]
    metric: Annotated[str, AfterValidator(_known_metric)]
    op: Literal["above", "below"]
    value: float
    grain: Literal["day", "week", "month", "quarter", "year"] = "month"
    crosses: bool = True


class HealthBandTrigger(_Trigger):
    type: Literal["health_band"]
    band: Literal["red", "yellow", "green"]
    days: PositiveInt = 7


class SurveyResponseTrigger(_Trigger):
    type: Literal["survey_response"]
    survey: Text
    lookback_days: PositiveFloat = 30
    max_score: float | None = None
    min_score: float | None = None


class EventDelayTrigger(_Trigger):
    type: Literal["event_delay"]
    table: Literal["orders", "events"]
    delay_days: NonNegativeFloat
    lookback_days: PositiveFloat = 7
    name: str | None = None


class StateDurationTrigger(_Trigger):
    type: Literal["state_duration"]
    hours: PositiveFloat
    status: Text = "open"


Trigger = Annotated[
    ScheduleTrigger
    | MetricTrigger
    | HealthBandTrigger
    | SurveyResponseTrigger
    | EventDelayTrigger
    | StateDurationTrigger,
    Field(discriminator="type"),
]


class WhereCondition(BaseModel):
    """Keep the firing only if its account matches a filter on the accounts table."""

    model_config = ConfigDict(extra="forbid")
    where: Text


class CompareCondition(BaseModel):
    """Keep the firing only if one of its variables compares true to a value."""

    model_config = ConfigDict(extra="forbid")
    variable: Text
    op: Literal["==", "!=", ">", ">=", "<", "<="] = "=="
    value: str | float | bool | None


def _condition_kind(value: Any) -> str:
    return "where" if isinstance(value, dict) and "where" in value else "compare"


Condition = Annotated[
    Annotated[WhereCondition, Tag("where")] | Annotated[CompareCondition, Tag("compare")],
    Discriminator(_condition_kind),
]


class Rule(BaseModel):
    """The parts of a rule as checked at creation; stored as the plain dicts they came from."""

    trigger: Trigger
    conditions: Annotated[list[Condition], Field(max_length=20)] = []
    actions: Annotated[list[actions.Action], Field(min_length=1, max_length=20)]


_TAGS = {*TRIGGERS, *actions.KINDS, "where", "compare"}


def _path(location: tuple[int | str, ...]) -> str:
    """`trigger.hours`, `actions.0.to`: the error's location without the union's tag names."""
    parts: list[str] = []
    for index, part in enumerate(location):
        follows = location[index - 1] if index else None
        if (
            isinstance(part, str)
            and part in _TAGS
            and (follows == "trigger" or isinstance(follows, int))
        ):
            continue
        parts.append(str(part))
    return ".".join(parts)


def check_rule(
    trigger: Any, conditions: Any, rule_actions: Any, *, tables: Any = None
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Refuse a rule that cannot run, naming the field and what is wrong; return its parts as they
    are stored (values coerced to their types, e.g. `hours: "48"` becomes 48.0). With `tables`
    (a workspace), `where` filters are also read against the real accounts table."""
    try:
        rule = Rule.model_validate(
            {"trigger": trigger, "conditions": conditions, "actions": rule_actions}
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where, reason = _path(first["loc"]), first["msg"]
        if first["type"] == "union_tag_not_found":  # no `type` / `kind` given at all
            where = f"{where}.{str(first.get('ctx', {}).get('discriminator', '')).strip(chr(39))}"
            reason = "Field required"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TenureError(f"{where}: {reason}{more}") from None
    if tables is not None and tables.has_table("accounts"):  # else checked when it runs
        from tenure.engine.filters import parse_filter

        for number, condition in enumerate(rule.conditions):
            if isinstance(condition, WhereCondition):
                try:
                    parse_filter(condition.where, tables.table("accounts"))
                except TenureError as exc:
                    raise TenureError(f"conditions.{number}.where: {exc}") from None
    return (
        rule.trigger.model_dump(mode="json", exclude_unset=True),
        [c.model_dump(mode="json", exclude_unset=True) for c in rule.conditions],
        [a.model_dump(mode="json", exclude_unset=True) for a in rule.actions],
    )


# -- triggers ---------------------------------------------------------------------------------------
def _candidates(
    rule: AutomationRule, tables: AppTables, at: dt.datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    """(subject, window, variables) of everything the trigger selects at `at`."""
    t = rule.trigger
    kind = t["type"]
    if kind == "schedule":
        trigger = crontab(str(t["cron"]))
        since = rule.last_run_at or at - dt.timedelta(hours=1)
        tick = trigger.get_next_fire_time(
            None, since.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=1)
        )
        if tick is None or tick.replace(tzinfo=None) > at:
            return []
        return [("schedule", tick.strftime("%Y-%m-%dT%H:%M"), {})]
    if kind == "metric":
        from tenure.engine.calendar import floor_date, shift

        grain = t.get("grain", "month")
        last = shift(floor_date(at.date(), grain), grain, -1)
        frame = tables.metrics([t["metric"]], grain=grain, start=shift(last, grain, -1), end=last)
        values = [v for v in frame["value"].tolist()]
        if len(values) < 2 or values[-1] is None:
            return []

        def meets(value: Any) -> bool:
            return value is not None and (
                float(value) > float(t["value"])
                if t["op"] == "above"
                else float(value) < float(t["value"])
            )

        crossed = meets(values[-1]) and (not t.get("crosses", True) or not meets(values[-2]))
        return (
            [
                (
                    "company",
                    last.isoformat(),
                    {"metric": t["metric"], "value": float(values[-1]), "previous": values[-2]},
                )
            ]
            if crossed
            else []
        )
    if kind == "health_band":
        days = int(t.get("days", 7))
        scores = tables.health(as_of=at.date())
        before = tables.health(as_of=at.date() - dt.timedelta(days=days))[
            ["account_id", "band"]
        ].rename(columns={"band": "was"})
        joined = scores.merge(before, on="account_id", how="left")
        entered = joined[(joined["band"] == t["band"]) & (joined["was"] != t["band"])]
        week = at.date().isocalendar()
        return [
            (
                str(r.account_id),
                f"{week.year}-W{week.week:02d}",
                {
                    "account_id": r.account_id,
                    "band": r.band,
                    "health": float(r.health),
                    "was": r.was,
                },
            )
            for r in entered.itertuples()
        ]
    if kind == "survey_response":
        answers = tables.table("survey_responses")
        since = at - dt.timedelta(days=int(t.get("lookback_days", 30)))
        rows = answers.filter(
            answers.survey == t["survey"], answers.responded_at >= since, answers.responded_at <= at
        )
        if t.get("max_score") is not None:
            rows = rows.filter(rows.score <= float(t["max_score"]))
        if t.get("min_score") is not None:
            rows = rows.filter(rows.score >= float(t["min_score"]))
        frame = rows.select("response_id", "account_id", "user_id", "score", "comment").to_pandas()
        return [(str(r["response_id"]), "once", dict(r)) for r in frame.to_dict("records")]
    if kind == "event_delay":
        delay = dt.timedelta(days=float(t["delay_days"]))
        window = dt.timedelta(days=float(t.get("lookback_days", 7)))
        if t["table"] == "orders":
            table = tables.table("orders")
            rows = table.filter(
                table.ordered_at <= at - delay, table.ordered_at > at - delay - window
            )
            if t.get("name"):
                rows = rows.filter(rows.kind == t["name"])
            frame = rows.select(
                "order_id", "account_id", "ordered_at", "amount", "currency", "kind"
            ).to_pandas()
            key = "order_id"
        else:
            table = tables.table("events")
            rows = table.filter(
                table.occurred_at <= at - delay, table.occurred_at > at - delay - window
            )
            if t.get("name"):
                rows = rows.filter(rows.name == t["name"])
            frame = rows.select(
                "event_id", "account_id", "user_id", "occurred_at", "name"
            ).to_pandas()
            key = "event_id"
        return [(str(r[key]), "once", dict(r)) for r in frame.to_dict("records")]
    tickets = tables.table("tickets")
    status = t.get("status", "open")
    rows = tickets.filter(
        tickets.status == status, tickets.opened_at <= at - dt.timedelta(hours=float(t["hours"]))
    )
    frame = rows.select("ticket_id", "account_id", "channel", "opened_at").to_pandas()
    return [(str(r["ticket_id"]), "once", dict(r)) for r in frame.to_dict("records")]


def _with_accounts(
    tables: Tables, found: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[str, str, dict[str, Any]]]:
    """Add the account's name and attributes to each firing's variables."""
    ids = sorted({str(v["account_id"]) for _, _, v in found if v.get("account_id")})
    if not ids:
        return found
    accounts = tables.table("accounts")
    frame = accounts.filter(accounts.account_id.isin(ids)).to_pandas().set_index("account_id")
    result = []
    for subject, window, variables in found:
        account = variables.get("account_id")
        extra = frame.loc[account].to_dict() if account in frame.index else {}
        result.append(
            (
                subject,
                window,
                {
                    **{f"account_{k}" if k in variables else k: v for k, v in extra.items()},
                    **variables,
                },
            )
        )
    return result


def _passes(conditions: list[dict[str, Any]], variables: dict[str, Any], tables: Tables) -> bool:
    for condition in conditions:
        if "where" in condition:
            from tenure.engine.filters import parse_filter

            account = variables.get("account_id")
            if account is None:
                return False
            accounts = tables.table("accounts")
            chosen = accounts.filter(
                parse_filter(str(condition["where"]), accounts), accounts.account_id == account
            )
            if chosen.count().execute() == 0:
                return False
        else:
            value, target, op = (
                variables.get(condition.get("variable", "")),
                condition.get("value"),
                condition.get("op", "=="),
            )
            if value is None:
                return False
            try:
                checks = {
                    "==": value == target,
                    "!=": value != target,
                    ">": value > target,
                    ">=": value >= target,
                    "<": value < target,
                    "<=": value <= target,
                }
            except TypeError:
                return False
            if op not in checks or not checks[op]:
                return False
    return True


def _json_ready(variables: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in variables.items():
        if value is None or (isinstance(value, float) and value != value):
            clean[key] = None
        elif isinstance(value, (pd.Timestamp, dt.date, dt.datetime)):
            clean[key] = value.isoformat()
        elif isinstance(value, (int, float, str, bool)):
            clean[key] = value
        else:
            clean[key] = str(value)
    return clean


# -- running ------------------------------------------------------------------------------------
def run(
    store: Store,
    tables: AppTables,
    *,
    outbox: actions.Outbox | None = None,
    at: dt.datetime | None = None,
    dry_run: bool = False,
    rule_ids: list[int] | None = None,
    backoff_seconds: float = 60.0,
    lease: float | None = None,
) -> RunReport:
    """Evaluate the enabled rules at `at` (default now), record new firings, take back deliveries
    whose sender died mid-send, and deliver every delivery that is due (new ones and retries).
    A dry run of named `rule_ids` evaluates them even when disabled (the preview before enabling).

    Each rule is evaluated on its own: one that raises is logged, recorded on the rule
    (`last_error`, `last_error_at`, `failures`) and listed in the report's `failed`; the others
    still fire. `lease` (seconds, default `lease_seconds()`) bounds how long a send may hold a
    delivery before another run takes it back."""
    moment = at or now()
    outbox = outbox or actions.Outbox.from_environment()
    report = RunReport()
    with store.session() as session:
        query = select(AutomationRule)
        if not (dry_run and rule_ids):  # a named rule is previewed even while it is disabled
            query = query.where(AutomationRule.enabled.is_(True))
        if rule_ids:
            query = query.where(AutomationRule.id.in_(rule_ids))
        rules = list(session.scalars(query.order_by(AutomationRule.id)))
        session.expunge_all()
    for rule in rules:
        try:
            _evaluate(store, tables, rule, moment, dry_run, report)
        except Exception as exc:  # one broken rule must not stop the others
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.exception("automation rule %s (%s) failed", rule.id, rule.name)
            report.failed.append({"rule_id": rule.id, "error": error})
            if not dry_run:
                _record_failure(store, rule.id, error)
    if not dry_run:
        report.reclaimed = _reclaim(store, moment, report)
        _deliver(store, outbox, moment, backoff_seconds, report, rule_ids, lease)
    return report


def start_rule(
    store: Store,
    tables: AppTables,
    rule_id: int,
    start: Literal["now", "backlog"] = "now",
    *,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Enable a rule. From "now": everything that already qualifies is recorded as a firing with
    no deliveries (seen, never sent), so only subjects that qualify later fire. With the
    "backlog", the next run fires everything that qualifies, old cases included. Returns the
    rule as shown, with `skipped`: how many subjects were recorded as seen."""
    moment = at or now()
    with store.session() as session:
        rule = session.get(AutomationRule, rule_id)
        if rule is None:
            raise TenureError(f"no rule {rule_id}")
        session.expunge(rule)
    skipped = 0
    if start == "now":
        found = _with_accounts(tables, _candidates(rule, tables, moment))
        for subject, window, variables in found:
            if _passes(rule.conditions, variables, tables):
                values = _json_ready({**variables, "rule": rule.name, "subject": subject})
                skipped += _record(store, rule, subject, window, values, moment, deliver=False)
    with store.session() as session:
        stored = session.get(AutomationRule, rule_id)
        if stored is None:
            raise TenureError(f"no rule {rule_id}")
        stored.enabled = True
        if start == "now":
            stored.last_run_at = moment  # a schedule fires from its next tick
        return {**rule_view(stored), "skipped": skipped}


def _evaluate(
    store: Store,
    tables: Any,
    rule: AutomationRule,
    moment: dt.datetime,
    dry_run: bool,
    report: RunReport,
) -> None:
    found = _with_accounts(tables, _candidates(rule, tables, moment))
    if dry_run:  # what would fire: not what already fired (or was seen when the rule started)
        with store.session() as session:
            recorded = {
                (subject, window)
                for subject, window in session.execute(
                    select(Firing.subject, Firing.window).where(Firing.rule_id == rule.id)
                )
            }
        found = [f for f in found if (f[0], f[1]) not in recorded]
    for subject, window, variables in found:
        if not _passes(rule.conditions, variables, tables):
            continue
        values = _json_ready(
            {
                **variables,
                "rule": rule.name,
                "subject": subject,
                "today": moment.date().isoformat(),
            }
        )
        if dry_run:
            report.fired.append(
                {"rule_id": rule.id, "subject": subject, "window": window, "variables": values}
            )
            continue
        if _record(store, rule, subject, window, values, moment):
            report.fired.append({"rule_id": rule.id, "subject": subject, "window": window})
    if not dry_run:  # a failed rule keeps its last_run_at, so a missed schedule tick is retried
        with store.session() as session:
            session.execute(
                update(AutomationRule)
                .where(AutomationRule.id == rule.id)
                .values(last_run_at=moment, failures=0)
            )


def _record_failure(store: Store, rule_id: int, error: str) -> None:
    try:
        with store.session() as session:
            session.execute(
                update(AutomationRule)
                .where(AutomationRule.id == rule_id)
                .values(
                    last_error=error,
                    last_error_at=now(),
                    failures=AutomationRule.failures + 1,
                )
            )
    except Exception:  # the store itself failing is logged; the run goes on
        log.exception("cannot record the failure of automation rule %s", rule_id)


def _record(
    store: Store,
    rule: AutomationRule,
    subject: str,
    window: str,
    variables: dict[str, Any],
    moment: dt.datetime,
    *,
    deliver: bool = True,
) -> bool:
    """Insert the firing and (when `deliver`) its deliveries; False when this (rule, subject,
    window) fired before."""
    try:
        with store.session() as session:
            firing = Firing(
                rule_id=rule.id,
                subject=subject,
                window=window,
                fired_at=moment,
                variables=variables,
            )
            session.add(firing)
            session.flush()
            for index, action in enumerate(rule.actions if deliver else []):
                session.add(
                    Delivery(
                        firing_id=firing.id,
                        action_index=index,
                        kind=action["kind"],
                        next_attempt_at=moment,
                    )
                )
    except IntegrityError:
        return False
    return True


def _reclaim(store: Store, moment: dt.datetime, report: RunReport) -> int:
    """Deliveries left in 'sending' past their lease (the sender crashed or was killed): due again
    at once, or dead letters if that was their last attempt. Never left stuck."""
    expired = "lease expired: the sender stopped before the delivery was confirmed"
    with store.session() as session:
        stale = (
            (Delivery.status == "sending")
            & Delivery.lease_until.is_not(None)
            & (Delivery.lease_until < now())
        )
        dead = session.execute(
            update(Delivery)
            .where(stale, Delivery.attempts >= MAX_ATTEMPTS)
            .values(status="dead", lease_until=None, last_error=expired)
        ).rowcount  # type: ignore[attr-defined]
        retried = session.execute(
            update(Delivery)
            .where(stale)
            .values(status="pending", lease_until=None, next_attempt_at=moment, last_error=expired)
        ).rowcount  # type: ignore[attr-defined]
    if dead or retried:
        log.warning("took back %d abandoned deliveries (%d now dead letters)", dead + retried, dead)
    report.dead += int(dead)
    return int(dead) + int(retried)


def _deliver(
    store: Store,
    outbox: actions.Outbox,
    moment: dt.datetime,
    backoff: float,
    report: RunReport,
    rule_ids: list[int] | None,
    lease: float | None,
) -> None:
    hold = dt.timedelta(seconds=lease if lease is not None else lease_seconds())
    with store.session() as session:
        due = session.execute(
            select(Delivery, Firing, AutomationRule)
            .join(Firing, Delivery.firing_id == Firing.id)
            .join(AutomationRule, Firing.rule_id == AutomationRule.id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= moment)
            .order_by(Delivery.id)
        ).all()
        work = [(d.id, d.action_index, f.variables, r.actions, r.id) for d, f, r in due]
    for delivery_id, index, variables, rule_actions, rule_id in work:
        if rule_ids and rule_id not in rule_ids:
            continue
        # Claim it with a lease, counting the attempt before sending: a sender that dies
        # mid-send leaves a delivery the next run takes back once the lease has expired.
        with store.session() as session:
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "pending")
                .values(
                    status="sending",
                    attempts=Delivery.attempts + 1,
                    lease_until=now() + hold,
                )
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            attempt = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id))
        # Only the holder of this attempt may settle it: a sender that outlived its lease finds
        # the delivery taken back (or sent again) and changes nothing.
        mine = (
            (Delivery.id == delivery_id)
            & (Delivery.status == "sending")
            & (Delivery.attempts == attempt)
        )
        try:
            actions.perform(store, outbox, rule_actions[index], variables, delivery_id)
        except Exception as exc:  # ActionError, or a bug in this action: retried, then dead
            if not isinstance(exc, actions.ActionError):
                log.exception("delivery %s failed unexpectedly", delivery_id)
            error = str(exc)[:2000] or type(exc).__name__
            last = attempt is not None and attempt >= MAX_ATTEMPTS
            with store.session() as session:
                settled = session.execute(
                    update(Delivery)
                    .where(mine)
                    .values(
                        status="dead" if last else "pending",
                        last_error=error,
                        lease_until=None,
                        next_attempt_at=moment
                        + dt.timedelta(seconds=backoff * 2 ** ((attempt or 1) - 1)),
                    )
                ).rowcount  # type: ignore[attr-defined]
            if settled:
                if last:
                    report.dead += 1
                else:
                    report.retrying += 1
            continue
        with store.session() as session:
            session.execute(
                update(Delivery)
                .where(mine)
                .values(status="sent", delivered_at=moment, last_error=None, lease_until=None)
            )
        report.sent += 1


def create_rule(
    store: Store,
    name: str,
    trigger: dict[str, Any],
    conditions: list[dict[str, Any]],
    rule_actions: list[dict[str, Any]],
    enabled: bool = True,
    *,
    tables: Any = None,
) -> int:
    """Check and store a rule; with `tables` its `where` filters are read against the accounts
    table too (pass the workspace whenever there is one)."""
    trigger, conditions, rule_actions = check_rule(trigger, conditions, rule_actions, tables=tables)
    with store.session() as session:
        rule = AutomationRule(
            name=name, trigger=trigger, conditions=conditions, actions=rule_actions, enabled=enabled
        )
        session.add(rule)
        session.flush()
        return rule.id


def update_rule(
    store: Store,
    rule_id: int,
    *,
    name: str | None = None,
    trigger: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    rule_actions: list[dict[str, Any]] | None = None,
    enabled: bool | None = None,
    tables: Any = None,
) -> dict[str, Any]:
    """Change the given parts of a rule, checking the rule they make as at creation; return it."""
    with store.session() as session:
        rule = session.get(AutomationRule, rule_id)
        if rule is None:
            raise TenureError(f"no rule {rule_id}")
        if (trigger, conditions, rule_actions) != (None, None, None):
            checked = check_rule(
                rule.trigger if trigger is None else trigger,
                rule.conditions if conditions is None else conditions,
                rule.actions if rule_actions is None else rule_actions,
                tables=tables,
            )
            rule.trigger, rule.conditions, rule.actions = checked
        if name is not None:
            rule.name = name
        if enabled is not None:
            rule.enabled = enabled
        return rule_view(rule)


def rule_view(rule: AutomationRule) -> dict[str, Any]:
    """A rule as the API and CLI show it, with its last failure if it has one."""
    return {
        "id": rule.id,
        "name": rule.name,
        "enabled": rule.enabled,
        "trigger": rule.trigger,
        "conditions": rule.conditions,
        "actions": rule.actions,
        "failures": rule.failures,
        "last_error": rule.last_error,
        "last_error_at": rule.last_error_at.isoformat() if rule.last_error_at else None,
    }


def firings(
    store: Store, rule_id: int | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Deliveries with their firing, newest first (status 'dead' for the dead-letter list)."""
    with store.session() as session:
        query = select(Delivery, Firing).join(Firing, Delivery.firing_id == Firing.id)
        if rule_id is not None:
            query = query.where(Firing.rule_id == rule_id)
        if status is not None:
            query = query.where(Delivery.status == status)
        rows = session.execute(query.order_by(Delivery.id.desc())).all()
        return [
            {
                "delivery_id": d.id,
                "rule_id": f.rule_id,
                "subject": f.subject,
                "window": f.window,
                "fired_at": f.fired_at.isoformat(),
                "action": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
            }
            for d, f in rows
        ]


def retry_dead(store: Store, delivery_id: int, *, at: dt.datetime | None = None) -> None:
    """Put a dead letter back in the queue, due at `at` (default now), once the receiver is
    fixed."""
    with store.session() as session:
        changed = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=at or now())
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise TenureError(f"delivery {delivery_id} is not a dead letter")
