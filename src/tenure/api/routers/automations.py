"""Automations: when-then rules, their dry runs and firings, dead letters, and running them."""

from __future__ import annotations

import threading
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from tenure.api.deps import Admin, Editor, Live, StoreDep, Viewer, audit
from tenure.api.problems import Problem
from tenure.api.schemas import (
    Created,
    Delivery,
    DryRunOut,
    Fired,
    Id,
    Preview,
    RuleFailure,
    RuleIn,
    RuleOut,
    RulePatch,
    RunOut,
    Status,
)
from tenure.app import actions, automations
from tenure.app.store import AutomationRule, Store
from tenure.live import LiveWorkspace

router = APIRouter()
# One run at a time (from the API or the schedule), so a due delivery is sent once. Rules only
# read the analytical store: a run uses a reader and holds up nobody's reads or writes.
_running = threading.Lock()


def run(live: LiveWorkspace, store: Store) -> automations.RunReport:
    """Evaluate every enabled rule now and deliver what is due."""
    with _running, live.reader() as ws:
        return automations.run(store, ws)


@router.get("/api/automations", summary="Automation rules")
def list_rules(key: Viewer, store: StoreDep) -> list[RuleOut]:
    with store.session() as session:
        rules = session.scalars(select(AutomationRule).order_by(AutomationRule.id))
        return [RuleOut(**actions.rule_for(key.role, automations.rule_view(r))) for r in rules]


@router.post("/api/automations", status_code=201, summary="Create a when-then rule")
def create_rule(key: Editor, live: Live, store: StoreDep, body: RuleIn) -> Created:
    with live.reader() as ws:  # its filters are read against the accounts table
        number = automations.create_rule(
            store, body.name, body.trigger, body.conditions, body.actions, body.enabled, tables=ws
        )
    audit(store, key, "automation.create", f"{number}: {body.name}")
    return Created(id=number)


def _rule(session: Any, rule_id: int) -> AutomationRule:
    rule: AutomationRule | None = session.get(AutomationRule, rule_id)
    if rule is None:
        raise Problem(404, "Not found", f"no rule {rule_id}")
    return rule


@router.patch("/api/automations/{rule_id}", summary="Change a rule or enable / disable it")
def patch_rule(key: Editor, live: Live, store: StoreDep, rule_id: Id, body: RulePatch) -> RuleOut:
    changes = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise Problem(422, "Invalid request", f"{', '.join(nulls)} cannot be null")
    with store.session() as session:
        _rule(session, rule_id)
    with live.reader() as ws:
        shown = automations.update_rule(
            store,
            rule_id,
            name=body.name,
            trigger=body.trigger,
            conditions=body.conditions,
            rule_actions=body.actions,
            enabled=body.enabled,
            tables=ws,
        )
    audit(store, key, "automation.update", f"{rule_id}: {sorted(changes)}")
    return RuleOut(**shown)


@router.delete("/api/automations/{rule_id}", status_code=204, summary="Delete a rule")
def delete_rule(key: Editor, store: StoreDep, rule_id: Id) -> None:
    with store.session() as session:
        session.delete(_rule(session, rule_id))
    audit(store, key, "automation.delete", str(rule_id))


class StartIn(BaseModel):
    """From "now" (the default): cases that already qualify are recorded as seen, never sent; with
    the "backlog": the next run fires them all."""

    model_config = ConfigDict(extra="forbid")
    start: Literal["now", "backlog"] = "now"


class Started(RuleOut):
    skipped: int  # subjects that qualified at the start and were recorded as seen


@router.post(
    "/api/automations/{rule_id}/start", summary="Enable a rule from now on or with the backlog"
)
def start_rule(key: Editor, live: Live, store: StoreDep, rule_id: Id, body: StartIn) -> Started:
    with store.session() as session:
        _rule(session, rule_id)
    with _running, live.reader() as ws:  # not while a run is recording the same subjects
        shown = automations.start_rule(store, ws, rule_id, body.start)
    audit(store, key, "automation.start", f"{rule_id}: {body.start}, {shown['skipped']} skipped")
    return Started(**actions.rule_for(key.role, shown))


@router.post(
    "/api/automations/{rule_id}/dry-run", summary="What the rule would fire now; records nothing"
)
def dry_run(_: Editor, live: Live, store: StoreDep, rule_id: Id) -> DryRunOut:
    with store.session() as session:
        _rule(session, rule_id)
    with live.reader() as ws:
        report = automations.run(store, ws, dry_run=True, rule_ids=[rule_id])
    return DryRunOut(
        fired=[Preview(**f) for f in report.fired],
        failed=[RuleFailure(**f) for f in report.failed],
    )


@router.get("/api/automations/{rule_id}/firings", summary="A rule's firings and their deliveries")
def rule_firings(_: Viewer, store: StoreDep, rule_id: Id) -> list[Delivery]:
    return [Delivery(**d) for d in automations.firings(store, rule_id)]


@router.get("/api/dead-letters", summary="Deliveries that failed every attempt")
def dead_letters(_: Viewer, store: StoreDep) -> list[Delivery]:
    return [Delivery(**d) for d in automations.firings(store, status="dead")]


@router.post("/api/dead-letters/{delivery_id}/retry", summary="Queue a dead letter again")
def retry(key: Admin, store: StoreDep, delivery_id: Id) -> Status:
    automations.retry_dead(store, delivery_id)
    audit(store, key, "automation.retry", str(delivery_id))
    return Status(status="pending")


@router.post("/api/automations/run", summary="Run every enabled rule now")
def run_now(key: Admin, live: Live, store: StoreDep) -> RunOut:
    report = run(live, store)
    audit(store, key, "automation.run", f"{len(report.fired)} fired, {report.sent} sent")
    return RunOut(
        fired=[Fired(**f) for f in report.fired],
        sent=report.sent,
        retrying=report.retrying,
        dead=report.dead,
        reclaimed=report.reclaimed,
        failed=[RuleFailure(**f) for f in report.failed],
    )
