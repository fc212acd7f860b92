"""Survey invitations with signed, expiring, single-use tokens, and the answers they bring.

A token is `<payload>.<signature>`: the payload (base64url JSON: invitation id and expiry) signed
with HMAC-SHA256 under the workspace's secret. A token is accepted when the signature matches
(compared in constant time), it has not expired and its invitation has not been answered; the
answer is recorded by marking the invitation used in the same statement that checks it was not,
so two submissions cannot both pass.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update

from tenure.app.store import Invitation, Store, Survey, now
from tenure.app.store import secret as store_secret
from tenure.app.tables import AppTables
from tenure.errors import TenureError
from tenure.metrics.tables import Tables

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


class InvitationError(TenureError):
    """A survey link that cannot be used (forged, expired, already answered)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def secret(store: Store) -> bytes:
    return store_secret(store, "survey_secret")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(store: Store, invitation: Invitation) -> str:
    payload = _b64(
        json.dumps({"i": invitation.id, "e": int(invitation.expires_at.timestamp())}).encode()
    )
    signature = _b64(hmac.new(secret(store), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def invite(
    store: Store,
    survey_id: int,
    *,
    account_id: str | None,
    user_id: str | None,
    days: int = 14,
    channel: str = "email",
) -> str:
    """A new invitation's token."""
    secret(store)  # before the transaction below: SQLite allows one writer at a time
    with store.session() as session:
        if session.get(Survey, survey_id) is None:
            raise InvitationError(f"no survey {survey_id}", 404)
        invitation = Invitation(
            survey_id=survey_id,
            account_id=account_id,
            user_id=user_id,
            channel=channel,
            expires_at=now() + dt.timedelta(days=days),
        )
        session.add(invitation)
        session.flush()
        return sign(store, invitation)


def open_invitation(store: Store, token: str) -> tuple[Invitation, Survey]:
    """The invitation and survey behind a valid, unexpired, unanswered token."""
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(secret(store), payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature, expected):
        raise InvitationError("this survey link is not valid", 404)
    try:
        data = json.loads(_unb64(payload))
        number = int(data["i"])
    except (ValueError, KeyError, TypeError):
        raise InvitationError("this survey link is not valid", 404) from None
    with store.session() as session:
        invitation = session.get(Invitation, number)
        if invitation is None:
            raise InvitationError("this survey link is not valid", 404)
        if invitation.used_at is not None:
            raise InvitationError("this survey has already been answered, thank you", 410)
        if invitation.expires_at < now():
            raise InvitationError("this survey link has expired", 410)
        survey = session.get(Survey, invitation.survey_id)
        assert survey is not None
        session.expunge_all()
        return invitation, survey


def answer(store: Store, tables: AppTables, token: str, score: int, comment: str | None) -> str:
    """Record an answer once: mark the invitation used (only if it was not), then load the
    response into survey_responses, where the metrics read it. Returns the response id."""
    invitation, survey = open_invitation(store, token)
    if not survey.scale_min <= score <= survey.scale_max:
        raise InvitationError(
            f"the score must be between {survey.scale_min} and {survey.scale_max}", 422
        )
    text = (comment or "").strip()[:5000] or None
    with store.session() as session:
        claimed = session.execute(
            update(Invitation)
            .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
            .values(used_at=now())
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvitationError("this survey has already been answered, thank you", 410)
    response_id = f"INV{invitation.id:08d}"
    row = {
        "response_id": response_id,
        "account_id": invitation.account_id,
        "user_id": invitation.user_id,
        "survey": survey.kind,
        "score": float(score),
        "scale_min": float(survey.scale_min),
        "scale_max": float(survey.scale_max),
        "comment": text,
        "touchpoint": survey.touchpoint,
        "channel": invitation.channel,
        "language": survey.language,
        "responded_at": now(),
    }
    report = tables.load("survey_responses", pd.DataFrame([row]))
    if report.rejected:
        raise InvitationError("the answer could not be stored; please try again", 500)
    return response_id


def surveys(store: Store) -> list[Survey]:
    with store.session() as session:
        rows = list(session.scalars(select(Survey).order_by(Survey.id)))
        session.expunge_all()
        return rows


def response_ids(store: Store, survey_id: int) -> list[str]:
    """The survey_responses keys of a survey's answered invitations."""
    with store.session() as session:
        if session.get(Survey, survey_id) is None:
            raise InvitationError(f"no survey {survey_id}", 404)
        rows = session.scalars(
            select(Invitation.id).where(
                Invitation.survey_id == survey_id, Invitation.used_at.is_not(None)
            )
        )
        return [f"INV{number:08d}" for number in rows]


SURVEY_COLUMNS = ("survey_id", "name", "kind", "touchpoint", "channel")


def response_rates(
    store: Store,
    tables: Tables,
    *,
    by: Sequence[str] = (),
    where: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Per survey and invitation channel: invitations sent, answered, and the response rate %
    (answered / sent), also per account segment (`by`, the attributes of the workspace's
    accounts) and only for the accounts `where` keeps; `start` and `end` bound the days
    invitations were sent."""
    sent_at = Invitation.created_at
    grouping = (
        Survey.id,
        Survey.name,
        Survey.kind,
        Survey.touchpoint,
        Invitation.channel,
        Invitation.account_id,
    )
    query = (
        select(*grouping, func.count(Invitation.id), func.count(Invitation.used_at))
        .join(Invitation, Invitation.survey_id == Survey.id)
        .group_by(*grouping)
    )
    if start is not None:
        query = query.where(sent_at >= dt.datetime.combine(start, dt.time()))
    if end is not None:
        query = query.where(sent_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
    with store.session() as session:
        rows = session.execute(query).all()
    return _by_segment(tables, rows, [*SURVEY_COLUMNS, *by], by, where)


COUNT_SCHEMA = {
    "survey_id": "int64",
    "name": "string",
    "kind": "string",
    "touchpoint": "string",
    "channel": "string",
    "account_id": "string",
    "invitations": "int64",
    "responses": "int64",
}


def _by_segment(
    tables: Tables, rows: Sequence[Any], keys: list[str], by: Sequence[str], where: str | None
) -> pd.DataFrame:
    """Sum the per-account counts by survey and segment in the workspace's engine, keeping the
    accounts the filter matches (the same segment and filter rules as metrics)."""
    import ibis

    from tenure.metrics.query import Query

    today = dt.date.today()
    query = Query(tables, "day", today, today, by=tuple(by), where=where)
    frame = pd.DataFrame(rows, columns=list(COUNT_SCHEMA))
    counts = query.with_segments(query.restricted(ibis.memtable(frame, schema=COUNT_SCHEMA)))
    summed = counts.group_by(keys).aggregate(
        invitations=counts.invitations.sum(), responses=counts.responses.sum()
    )
    rated = summed.mutate(response_rate=summed.responses * 100.0 / summed.invitations)
    # Without a segment the expression holds only the in-memory counts: Query.run keeps it on
    # this workspace's connection.
    result: pd.DataFrame = query.run(rated.order_by(keys))
    return result
