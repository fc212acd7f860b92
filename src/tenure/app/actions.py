"""What an automation does when it fires: e-mail through SMTP, a signed webhook, a chat message,
a task, an account tag, or a survey invitation. Texts are Jinja templates rendered in a sandbox
with the firing's variables (account_id, name, and the trigger's own: order_id, amount, ...)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from tenure.app import outbound
from tenure.app.store import AccountTag, Store, Task, now, secret
from tenure.errors import TenureError

KINDS = ("email", "webhook", "chat", "task", "tag", "survey_invitation")
_templates = SandboxedEnvironment(autoescape=False)
log = logging.getLogger(__name__)


def _readable(text: str) -> str:
    """A Jinja template that compiles (rendering can still fail on missing data, at send time)."""
    try:
        _templates.from_string(text)
    except Exception as exc:
        raise PydanticCustomError(
            "template", "template cannot be read: {reason}", {"reason": str(exc)}
        ) from None
    return text


Template = Annotated[str, StringConstraints(min_length=1), AfterValidator(_readable)]
_KNOWN_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*[/?#]")


def _outbound(text: str) -> str:
    """A URL template whose scheme and host, where written literally, may be requested: only
    http(s), and no refused address written as a number (names are checked when sending)."""
    literal = text.split("{", 1)[0]
    if "{" not in text:
        checked = text
    elif match := _KNOWN_ORIGIN.match(literal):
        checked = match.group(0)
    elif "://" in literal:
        checked = literal.split("://", 1)[0] + "://example.invalid/"
    else:
        return text
    try:
        outbound.check_url(checked)
    except TenureError as exc:
        raise PydanticCustomError("url", "{reason}", {"reason": str(exc)}) from None
    return text


UrlTemplate = Annotated[Template, AfterValidator(_outbound)]


def _readable_or_none(text: str | None) -> str | None:
    return None if text is None else _readable(text)


OptionalTemplate = Annotated[str | None, AfterValidator(_readable_or_none)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailAction(_Action):
    kind: Literal["email"]
    to: Template
    subject: Template
    body: Template


class WebhookAction(_Action):
    kind: Literal["webhook"]
    url: UrlTemplate


class ChatAction(_Action):
    kind: Literal["chat"]
    url: UrlTemplate
    text: Template


class TaskAction(_Action):
    kind: Literal["task"]
    title: Template
    assignee: str | None = None
    due_in_days: NonNegativeInt = 7


class TagAction(_Action):
    kind: Literal["tag"]
    tag: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class SurveyInvitationAction(_Action):
    kind: Literal["survey_invitation"]
    survey_id: PositiveInt
    to: OptionalTemplate = None
    subject: OptionalTemplate = None
    body: OptionalTemplate = None
    base_url: str = ""


Action = Annotated[
    EmailAction | WebhookAction | ChatAction | TaskAction | TagAction | SurveyInvitationAction,
    Field(discriminator="kind"),
]


@dataclass(frozen=True)
class Outbox:
    """Where messages go: SMTP server and sender (TENURE_SMTP_HOST, _PORT, _FROM)."""

    smtp_host: str = "localhost"
    smtp_port: int = 25
    sender: str = "tenure@localhost"
    timeout: float = 10.0

    @classmethod
    def from_environment(cls) -> Outbox:
        return cls(
            os.environ.get("TENURE_SMTP_HOST", "localhost"),
            int(os.environ.get("TENURE_SMTP_PORT", "25")),
            os.environ.get("TENURE_SMTP_FROM", "tenure@localhost"),
        )


class ActionError(TenureError):
    """An action that failed; it will be retried."""


def render(text: str, variables: dict[str, Any]) -> str:
    try:
        return _templates.from_string(text).render(**variables)
    except Exception as exc:
        raise ActionError(f"template failed: {exc}") from None


def webhook_secret(store: Store) -> bytes:
    return secret(store, "webhook_secret")


def signed_headers(secret: bytes, message_id: str, body: bytes, at: dt.datetime) -> dict[str, str]:
    """Standard Webhooks: HMAC-SHA256 over `id.timestamp.body`, base64, as `v1,<signature>`."""
    timestamp = str(int(at.replace(tzinfo=dt.UTC).timestamp()))
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


def perform(
    store: Store,
    outbox: Outbox,
    action: dict[str, Any],
    variables: dict[str, Any],
    delivery_id: int,
) -> None:
    """Do one action; raise ActionError if it did not happen (the caller retries)."""
    kind = action["kind"]
    try:
        if kind == "email":
            _email(
                outbox,
                render(action["to"], variables),
                render(action["subject"], variables),
                render(action["body"], variables),
            )
        elif kind in ("webhook", "chat"):
            payload = (
                {"text": render(action["text"], variables)}
                if kind == "chat"
                else {
                    "rule": variables.get("rule"),
                    "subject": variables.get("subject"),
                    "variables": variables,
                }
            )
            body = json.dumps(payload, default=str).encode()
            headers = signed_headers(webhook_secret(store), f"msg_{delivery_id}", body, now())
            try:
                outbound.post(
                    render(action["url"], variables),
                    content=body,
                    headers=headers,
                    timeout=outbox.timeout,
                )
            except outbound.OutboundError as exc:
                raise ActionError(str(exc)) from None
        elif kind == "task":
            due = variables.get("today")
            days = int(action.get("due_in_days", 7))
            with store.session() as session:
                session.add(
                    Task(
                        title=render(action["title"], variables),
                        account_id=variables.get("account_id"),
                        assignee=action.get("assignee"),
                        due_date=(dt.date.fromisoformat(due) if due else dt.date.today())
                        + dt.timedelta(days=days),
                    )
                )
        elif kind == "tag":
            account = variables.get("account_id")
            if not account:
                raise ActionError("a tag action needs an account")
            with store.session() as session:
                if session.get(AccountTag, (account, action["tag"])) is None:
                    session.add(AccountTag(account_id=account, tag=action["tag"]))
        elif kind == "survey_invitation":
            from tenure.app.surveys import invite

            token = invite(
                store,
                int(action["survey_id"]),
                account_id=variables.get("account_id"),
                user_id=variables.get("user_id"),
            )
            if action.get("to"):
                link = f"{action.get('base_url', '')}/s/{token}"
                text = render(
                    action.get("body", "Tell us how we are doing: {{ link }}"),
                    {**variables, "link": link},
                )
                _email(
                    outbox,
                    render(action["to"], variables),
                    render(action.get("subject", "A quick question"), variables),
                    text,
                )
    except ActionError:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        # The detail goes to the server log; viewers of the firings see only the class.
        log.warning("%s action failed: %s", kind, exc)
        status = "timeout" if isinstance(exc, TimeoutError) else "e-mail server error"
        raise ActionError(f"failed: {status}") from None


def _email(outbox: Outbox, to: str, subject: str, body: str) -> None:
    if "@" not in to:
        raise ActionError(f"no e-mail address to send to ({to!r})")
    message = EmailMessage()
    message["From"] = outbox.sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@tenure>"
    message.set_content(body)
    with smtplib.SMTP(outbox.smtp_host, outbox.smtp_port, timeout=outbox.timeout) as smtp:
        smtp.send_message(message)


def redacted(action: dict[str, Any]) -> dict[str, Any]:
    """An action as a viewer sees it: a webhook or chat URL cut to its scheme and host (the path
    and query of a hook URL are often its secret)."""
    if action.get("kind") not in ("webhook", "chat") or "url" not in action:
        return action
    parts = urlsplit(str(action["url"]))
    origin = f"{parts.scheme}://{parts.hostname}" if parts.scheme and parts.hostname else ""
    return {**action, "url": f"{origin}/[redacted]"}


def rule_for(role: str, view: dict[str, Any]) -> dict[str, Any]:
    """A rule view (`automations.rule_view`) as a key of `role` may see it: editors and admins
    see it whole, viewers with its webhook and chat URLs redacted."""
    if role in ("editor", "admin"):
        return view
    return {**view, "actions": [redacted(a) for a in view.get("actions", [])]}
