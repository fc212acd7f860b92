"""Product events as the Segment and PostHog client libraries send them, mapped to canonical rows.

Pure functions, no server and no store: a request body in each protocol's documented shape
becomes a `Batch` of event rows, what the messages say about users (traits, the account a user
belongs to) and accounts, and the messages rejected with their reason.
`tenure.sources.tracking_store.apply` writes a Batch to the store.

- Segment (HTTP Tracking API): track, page and screen calls are events; identify carries a
  user's traits; group links a user to an account (`groupId`) and may name the account. A
  track call names its account in `context.groupId`.
- PostHog (capture API): every event but `$identify`, `$set` and `$groupidentify` is an event;
  the account is the `$groups` entry of the configured group type (default "company").

An event's id is the client's message id (Segment `messageId`, PostHog `uuid`), so a retried
request loads nothing twice. Its time is the client's `timestamp`, moved by the client's clock
skew (the server's receipt time minus the client's `sentAt` / `sent_at`, in whole seconds), as
Segment corrects it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SEGMENT = "segment"
POSTHOG = "posthog"
MAX_MESSAGE_BYTES = 32 * 1024  # Segment's documented limit for one message
MAX_BATCH_BYTES = 500 * 1024  # and for one batch request
PAYLOAD_CHARS = 2000  # of a rejected message kept in the rejects table
DEFAULT_GROUP_TYPE = "company"
MAX_TRAITS = 50  # traits of one user kept as attributes
EVENT_COLUMNS = (
    "event_id",
    "occurred_at",
    "name",
    "account_id",
    "user_id",
    "anonymous_id",
    "session_id",
    "feature",
    "page",
    "duration_s",
    "properties",
)
_TRAIT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RESERVED_TRAITS = {"user_id", "account_id", "created_at", "createdat", "company", "_line"}
_SEGMENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
_POSTHOG_PROFILE_EVENTS = ("$identify", "$set", "$groupidentify")
_POSTHOG_MERGES = ("$create_alias", "$merge_dangerously")

Row = dict[str, str | None]


@dataclass(frozen=True)
class Rejected:
    protocol: str
    message_id: str | None
    reason: str
    payload: str  # the message as JSON, cut to PAYLOAD_CHARS


@dataclass
class UserFacts:
    """What one message says about a user: the account, when the user was created, traits."""

    user_id: str
    message_id: str
    account_id: str | None = None
    created_at: str | None = None
    traits: dict[str, str] = field(default_factory=dict)


@dataclass
class AccountFacts:
    account_id: str
    message_id: str
    name: str | None = None
    created_at: str | None = None


@dataclass
class Batch:
    protocol: str
    events: list[Row] = field(default_factory=list)
    users: list[UserFacts] = field(default_factory=list)
    accounts: list[AccountFacts] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    payloads: dict[str, str] = field(default_factory=dict)  # message id -> payload
    received: int = 0  # messages
    oversized: int = 0  # messages over MAX_MESSAGE_BYTES (rejected)


class _Refused(Exception):
    """One message cannot be kept; the text is the reason."""


# -- shared --------------------------------------------------------------------------------------
def payload_text(message: Any) -> str:
    """`message` as JSON for the rejects table: ASCII (so any text survives), cut short."""
    try:
        text = json.dumps(message, default=str, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(message)
    return text if len(text) <= PAYLOAD_CHARS else text[: PAYLOAD_CHARS - 1] + "…"


def _check_text(message: Any) -> int:
    """The message's size in UTF-8 bytes; refuses text that is not valid Unicode."""
    try:
        return len(json.dumps(message, ensure_ascii=False, allow_nan=True).encode("utf-8"))
    except UnicodeEncodeError:
        raise _Refused("the message holds text that is not valid Unicode") from None


def _id(value: Any, what: str) -> str | None:
    """An identifier: a non-empty string or an integer, as text; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Refused(f"{what} must be a string, not {type(value).__name__}")
    text = str(value).strip()
    if "\x00" in text:
        raise _Refused(f"{what} holds a NUL character")
    return text or None


def _derived_id(prefix: str, message: Mapping[str, Any]) -> str:
    """A stable id for a message sent without one, so its retries still merge."""
    digest = hashlib.sha256(payload_text(dict(message)).encode()).hexdigest()
    return f"{prefix}-{digest[:32]}"


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time in UTC (naive times are UTC); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def skew_seconds(sent_at: Any, received_at: dt.datetime) -> int:
    """How far the client's clock is behind the server's, in whole seconds (0 if unknown)."""
    sent = parse_time(sent_at)
    if sent is None:
        return 0
    return round((received_at - sent).total_seconds())


def _occurred(value: Any, skew: int, received_at: dt.datetime) -> str:
    if value is None or value == "":
        moment = received_at
    else:
        parsed = parse_time(value)
        if parsed is None:
            raise _Refused(f"timestamp {str(value)[:60]!r} is not an ISO 8601 time")
        try:
            moment = parsed + dt.timedelta(seconds=skew)
        except OverflowError:
            raise _Refused(f"timestamp {str(value)[:60]!r} is out of range") from None
    return moment.isoformat()


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    return str(value)


def _properties(properties: Mapping[str, Any]) -> str | None:
    if not properties:
        return None
    return json.dumps(dict(properties), default=str)


def _traits(traits: Any) -> tuple[dict[str, str], str | None, str | None]:
    """Scalar traits with names fit for attributes, and the created_at and name traits."""
    if not isinstance(traits, Mapping):
        return {}, None, None
    kept: dict[str, str] = {}
    for key, value in traits.items():
        if len(kept) >= MAX_TRAITS:
            break
        name = re.sub(r"[^a-z0-9_]+", "_", str(key).lower()).strip("_")
        if (
            not _TRAIT_NAME.fullmatch(name)
            or name in _RESERVED_TRAITS
            or isinstance(value, dict | list)
            or value is None
        ):
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if "\x00" not in text:
            kept[name] = text
    created = parse_time(traits.get("createdAt", traits.get("created_at")))
    return kept, None if created is None else created.isoformat(), _text(traits.get("name"))


def _path(url: Any) -> str | None:
    text = _text(url)
    if text is None:
        return None
    try:
        return urlsplit(text).path or "/"
    except ValueError:
        return None


def _reject(batch: Batch, message: Any, message_id: str | None, reason: str) -> None:
    batch.rejects.append(Rejected(batch.protocol, message_id, reason, payload_text(message)))


def _measure(batch: Batch, message: Any, message_id: str | None) -> bool:
    """Refuse a message over the size limit or with invalid text; True when it may be mapped."""
    try:
        size = _check_text(message)
    except _Refused as refused:
        _reject(batch, message, message_id, str(refused))
        return False
    if size > MAX_MESSAGE_BYTES:
        batch.oversized += 1
        _reject(
            batch,
            message,
            message_id,
            f"the message is {size:,} bytes; the limit is {MAX_MESSAGE_BYTES:,}",
        )
        return False
    return True


# -- Segment -------------------------------------------------------------------------------------
def segment(
    messages: Sequence[Any],
    *,
    received_at: dt.datetime,
    sent_at: Any = None,
    context: Mapping[str, Any] | None = None,
) -> Batch:
    """Map Segment messages (the `batch` of /v1/batch, or one call with its `type` set); the
    batch's `sentAt` and `context` apply to messages that do not carry their own."""
    batch = Batch(SEGMENT)
    for message in messages:
        batch.received += 1
        raw_id = message.get("messageId") if isinstance(message, Mapping) else None
        message_id = raw_id if isinstance(raw_id, str) else None
        if not isinstance(message, Mapping):
            _reject(batch, message, None, "a message must be a JSON object")
            continue
        if not _measure(batch, message, message_id):
            continue
        try:
            message_id = _id(message.get("messageId"), "messageId") or _derived_id(
                "segment", message
            )
            batch.payloads[message_id] = payload_text(message)
            _segment_message(batch, message, message_id, received_at, sent_at, context)
        except _Refused as refused:
            _reject(batch, message, message_id, str(refused))
    return batch


def _segment_message(
    batch: Batch,
    message: Mapping[str, Any],
    message_id: str,
    received_at: dt.datetime,
    sent_at: Any,
    batch_context: Mapping[str, Any] | None,
) -> None:
    kind = message.get("type")
    if kind not in _SEGMENT_TYPES:
        raise _Refused(f"type {str(kind)[:40]!r} is not one of {', '.join(_SEGMENT_TYPES)}")
    if kind == "alias":
        raise _Refused("alias calls are not kept: Tenure does not merge identities")
    user_id = _id(message.get("userId"), "userId")
    anonymous_id = _id(message.get("anonymousId"), "anonymousId")
    if user_id is None and anonymous_id is None:
        raise _Refused("a message needs a userId or an anonymousId")
    context = message.get("context")
    context = context if isinstance(context, Mapping) else (batch_context or {})
    account_id = _id(context.get("groupId"), "context.groupId")
    skew = skew_seconds(message.get("sentAt", sent_at), received_at)
    occurred = _occurred(
        message.get("timestamp") or message.get("originalTimestamp"), skew, received_at
    )
    if kind == "identify":
        if user_id is None:
            raise _Refused("an identify call without a userId: anonymous traits are not kept")
        traits, created, _ = _traits(message.get("traits") or context.get("traits"))
        batch.users.append(UserFacts(user_id, message_id, account_id, created, traits))
        return
    if kind == "group":
        group_id = _id(message.get("groupId"), "groupId")
        if group_id is None:
            raise _Refused("a group call needs a groupId")
        _, created, name = _traits(message.get("traits"))
        if user_id is not None:
            batch.users.append(UserFacts(user_id, message_id, group_id))
        if created is not None or name is not None:
            batch.accounts.append(AccountFacts(group_id, message_id, name, created))
        return
    properties = message.get("properties")
    properties = dict(properties) if isinstance(properties, Mapping) else {}
    page_context = context.get("page")
    page_context = page_context if isinstance(page_context, Mapping) else {}
    if kind == "track":
        name = _text(message.get("event"))
        if name is None:
            raise _Refused("a track call needs an event name")
        page = _text(properties.get("path")) or _text(page_context.get("path"))
    elif kind == "page":
        name = "page_view"
        page = (
            _text(properties.get("path"))
            or _text(page_context.get("path"))
            or _path(properties.get("url"))
            or _text(message.get("name"))
        )
    else:
        name = "screen_view"
        page = _text(message.get("name")) or _text(properties.get("name"))
    session = properties.pop("session_id", None) or context.get("sessionId")
    batch.events.append(
        {
            "event_id": message_id,
            "occurred_at": occurred,
            "name": name,
            "account_id": account_id,
            "user_id": user_id,
            "anonymous_id": anonymous_id,
            "session_id": _text(session),
            "feature": _text(properties.pop("feature", None)),
            "page": page,
            "duration_s": _number(properties.pop("duration_s", None)),
            "properties": _properties(properties),
        }
    )


# -- PostHog -------------------------------------------------------------------------------------
def posthog(
    events: Sequence[Any],
    *,
    received_at: dt.datetime,
    sent_at: Any = None,
    group_type: str = DEFAULT_GROUP_TYPE,
) -> Batch:
    """Map PostHog events (the `batch` of /batch, or the one event of /capture, /e, /i/v0/e);
    `group_type` is the `$groups` type whose key is the account id."""
    batch = Batch(POSTHOG)
    for event in events:
        batch.received += 1
        raw_id = event.get("uuid") if isinstance(event, Mapping) else None
        message_id = raw_id if isinstance(raw_id, str) else None
        if not isinstance(event, Mapping):
            _reject(batch, event, None, "an event must be a JSON object")
            continue
        if not _measure(batch, event, message_id):
            continue
        try:
            message_id = _id(event.get("uuid"), "uuid") or _derived_id("posthog", event)
            batch.payloads[message_id] = payload_text(event)
            _posthog_event(batch, event, message_id, received_at, sent_at, group_type)
        except _Refused as refused:
            _reject(batch, event, message_id, str(refused))
    return batch


def _posthog_event(
    batch: Batch,
    event: Mapping[str, Any],
    message_id: str,
    received_at: dt.datetime,
    sent_at: Any,
    group_type: str,
) -> None:
    name = _text(event.get("event"))
    if name is None:
        raise _Refused("an event needs its name in `event`")
    if name in _POSTHOG_MERGES:
        raise _Refused(f"{name} is not kept: Tenure does not merge identities")
    properties = event.get("properties")
    properties = dict(properties) if isinstance(properties, Mapping) else {}
    distinct_id = _id(
        event.get("distinct_id")
        or properties.pop("distinct_id", None)
        or properties.get("$distinct_id"),
        "distinct_id",
    )
    if distinct_id is None:
        raise _Refused("an event needs a distinct_id")
    personless = properties.pop("$process_person_profile", True) is False
    groups = properties.pop("$groups", None)
    account_id = (
        _id(groups.get(group_type), f"$groups.{group_type}")
        if isinstance(groups, Mapping)
        else None
    )
    if name == "$groupidentify":
        if properties.get("$group_type") == group_type:
            key = _id(properties.get("$group_key"), "$group_key")
            if key is None:
                raise _Refused("a $groupidentify event needs a $group_key")
            _, created, account_name = _traits(properties.get("$group_set"))
            batch.accounts.append(AccountFacts(key, message_id, account_name, created))
        return
    if not personless:
        sets = event.get("$set") or properties.pop("$set", None)
        once = event.get("$set_once") or properties.pop("$set_once", None)
        traits = {
            **(once if isinstance(once, Mapping) else {}),
            **(sets if isinstance(sets, Mapping) else {}),
        }
        kept, created, _ = _traits(traits)
        if account_id is not None or kept or created is not None or name in _POSTHOG_PROFILE_EVENTS:
            batch.users.append(UserFacts(distinct_id, message_id, account_id, created, kept))
    if name in _POSTHOG_PROFILE_EVENTS:
        return
    skew = skew_seconds(event.get("sent_at", sent_at), received_at)
    offset = event.get("offset")
    if event.get("timestamp") is None and isinstance(offset, int) and not isinstance(offset, bool):
        try:  # milliseconds between the event and its sending, from clients without a clock
            occurred = (received_at - dt.timedelta(milliseconds=offset)).isoformat()
        except OverflowError:
            raise _Refused(f"offset {offset} is out of range") from None
    else:
        occurred = _occurred(event.get("timestamp"), skew, received_at)
    page = _path(properties.get("$current_url")) or _text(properties.get("$pathname"))
    if name == "$screen":
        page = _text(properties.get("$screen_name")) or page
    batch.events.append(
        {
            "event_id": message_id,
            "occurred_at": occurred,
            "name": {"$pageview": "page_view", "$screen": "screen_view"}.get(name, name),
            "account_id": account_id,
            "user_id": None if personless else distinct_id,
            "anonymous_id": distinct_id if personless else None,
            "session_id": _text(properties.pop("$session_id", None)),
            "feature": _text(properties.pop("feature", None)),
            "page": page,
            "duration_s": _number(properties.pop("duration_s", None)),
            "properties": _properties(properties),
        }
    )
