"""When-then automations: "when TRIGGER and CONDITIONS then ACTIONS".

Triggers find subjects, each with a window: a cron schedule (the tick), a metric crossing a
threshold (the period), an account entering a health band (the ISO week), a survey answer
matching a condition, an order or event some days ago, a ticket left open too long (once per
subject). A firing is recorded once per (rule, subject, window), so running again never repeats
it. Each action of a firing is a delivery: tried at once, retried with exponential backoff when
it fails, and kept as a dead letter after the last attempt, never dropped. A dry run lists what
would fire and records nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tenure.app import actions
from tenure.app.store import AutomationRule, Delivery, Firing, Store, now
from tenure.app.tables import AppTables
from tenure.errors import TenureError
from tenure.metrics.tables import Tables

TRIGGERS = ("schedule", "metric", "health_band", "survey_response", "event_delay", "state_duration")
MAX_ATTEMPTS = 5


@dataclass
class RunReport:
    fired: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    retrying: int = 0
    dead: int = 0


def check_rule(trigger: Any, conditions: Any, rule_actions: Any) -> None:
    """Refuse a rule that cannot run, naming what is wrong."""
    if not isinstance(trigger, dict) or trigger.get("type") not in TRIGGERS:
        raise TenureError(f"trigger `type` must be one of {', '.join(TRIGGERS)}")
    needs = {
        "schedule": ("cron",),
        "metric": ("metric", "op", "value"),
        "health_band": ("band",),
        "survey_response": ("survey",),
        "event_delay": ("table", "delay_days"),
        "state_duration": ("hours",),
    }[trigger["type"]]
    missing = [k for k in needs if trigger.get(k) in (None, "")]
    if missing:
        raise TenureError(f"trigger {trigger['type']}: needs {', '.join(missing)}")
    if trigger["type"] == "schedule":
        _cron(str(trigger["cron"]))
    if trigger["type"] == "metric":
        from tenure.metrics.catalog import metric

        metric(str(trigger["metric"]))
        if trigger["op"] not in ("above", "below"):
            raise TenureError("trigger metric: op must be above or below")
    if trigger["type"] == "event_delay" and trigger["table"] not in ("orders", "events"):
        raise TenureError("trigger event_delay: table must be orders or events")
    if trigger["type"] == "health_band" and trigger["band"] not in ("red", "yellow", "green"):
        raise TenureError("trigger health_band: band must be red, yellow or green")
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        raise TenureError("conditions must be a list of {where: ...} or {variable, op, value}")
    if not isinstance(rule_actions, list) or not rule_actions:
        raise TenureError("a rule needs at least one action")
    for number, action in enumerate(rule_actions):
        actions.check(action, number)


_DAYS = {
    "0": "sun",
    "1": "mon",
    "2": "tue",
    "3": "wed",
    "4": "thu",
    "5": "fri",
    "6": "sat",
    "7": "sun",
}


def _cron(expression: str) -> Any:
    """A crontab line (minute hour day month weekday; weekday 0 or 7 = Sunday) as a trigger."""
    from apscheduler.triggers.cron import CronTrigger

    parts = expression.split()
    if len(parts) != 5:
        raise TenureError(f"cron {expression!r}: expected 5 fields (minute hour day month weekday)")
    weekday = "".join(_DAYS.get(ch, ch) if ch.isdigit() else ch for ch in parts[4])
    try:
        return CronTrigger(
            minute=parts[0],
            hour=parts[1],
            day=parts[2],
            month=parts[3],
            day_of_week=weekday,
            timezone="UTC",
        )
    except ValueError as exc:
        raise TenureError(f"cron {expression!r}: {exc}") from None


# -- triggers ---------------------------------------------------------------------------------------
def _candidates(
    rule: AutomationRule, tables: AppTables, at: dt.datetime
) -> list[tuple[str, str, dict[str, Any]]]:
    """(subject, window, variables) of everything the trigger selects at `at`."""
    t = rule.trigger
    kind = t["type"]
    if kind == "schedule":
        trigger = _cron(str(t["cron"]))
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
) -> RunReport:
    """Evaluate the enabled rules at `at` (default now), record new firings, and deliver every
    delivery that is due (new ones and retries)."""
    moment = at or now()
    outbox = outbox or actions.Outbox.from_environment()
    report = RunReport()
    with store.session() as session:
        query = select(AutomationRule).where(AutomationRule.enabled.is_(True))
        if rule_ids:
            query = query.where(AutomationRule.id.in_(rule_ids))
        rules = list(session.scalars(query.order_by(AutomationRule.id)))
        session.expunge_all()
    for rule in rules:
        found = _with_accounts(tables, _candidates(rule, tables, moment))
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
        if not dry_run:
            with store.session() as session:
                session.execute(
                    update(AutomationRule)
                    .where(AutomationRule.id == rule.id)
                    .values(last_run_at=moment)
                )
    if not dry_run:
        _deliver(store, outbox, moment, backoff_seconds, report, rule_ids)
    return report


def _record(
    store: Store,
    rule: AutomationRule,
    subject: str,
    window: str,
    variables: dict[str, Any],
    moment: dt.datetime,
) -> bool:
    """Insert the firing and its deliveries; False when this (rule, subject, window) fired before."""
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
            for index, action in enumerate(rule.actions):
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


def _deliver(
    store: Store,
    outbox: actions.Outbox,
    moment: dt.datetime,
    backoff: float,
    report: RunReport,
    rule_ids: list[int] | None,
) -> None:
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
        with store.session() as session:  # claim it: no other run may send it meanwhile
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "pending")
                .values(status="sending", attempts=Delivery.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
        try:
            actions.perform(store, outbox, rule_actions[index], variables, delivery_id)
        except actions.ActionError as exc:
            with store.session() as session:
                delivery = session.get(Delivery, delivery_id)
                assert delivery is not None
                delivery.last_error = str(exc)[:2000]
                if delivery.attempts >= MAX_ATTEMPTS:
                    delivery.status = "dead"
                    report.dead += 1
                else:
                    delivery.status = "pending"
                    delivery.next_attempt_at = moment + dt.timedelta(
                        seconds=backoff * 2 ** (delivery.attempts - 1)
                    )
                    report.retrying += 1
            continue
        with store.session() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status="sent", delivered_at=moment, last_error=None)
            )
        report.sent += 1


def create_rule(
    store: Store,
    name: str,
    trigger: dict[str, Any],
    conditions: list[dict[str, Any]],
    rule_actions: list[dict[str, Any]],
    enabled: bool = True,
) -> int:
    check_rule(trigger, conditions, rule_actions)
    with store.session() as session:
        rule = AutomationRule(
            name=name, trigger=trigger, conditions=conditions, actions=rule_actions, enabled=enabled
        )
        session.add(rule)
        session.flush()
        return rule.id


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
