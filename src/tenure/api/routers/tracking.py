"""Product events from the Segment and PostHog client libraries, pointed at this server.

- Segment's HTTP Tracking API: POST /v1/batch, /v1/track, /v1/identify, /v1/group, /v1/page,
  /v1/screen. The write key is the HTTP Basic user name (as the Segment libraries send it), a
  Bearer token, or `writeKey` in the body. A request with valid JSON answers 200 and keeps its
  bad messages in the rejects table, as Segment does; malformed JSON and bodies over the
  documented limits (500 KB a request, 32 KB a message) answer 400.
- PostHog's capture API: POST /batch (and /batch/), /capture, /e, /i/v0/e. The key is
  `api_key` in the body (as the PostHog libraries send it), `token`, or a Bearer token. A request
  none of whose events can be kept answers 400 with the first reason.

Keys with the ingest role (or editor, admin) may send. Bodies may be gzip- or
deflate-compressed. Everything is written through the live workspace's one writer and committed
before the answer, so an accepted event survives a restart, and a retried request loads nothing
twice. Errors are problem documents; they also carry Segment's `code` and `message` members."""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from pydantic import BaseModel, ConfigDict, Field

from tenure.api.deps import Live, StoreDep
from tenure.api.problems import PROBLEM, errors, problem
from tenure.app import keys as key_rules
from tenure.app.store import Store
from tenure.live import LiveWorkspace
from tenure.sources import tracking, tracking_store

GROUP_TYPE_ENV = "TENURE_POSTHOG_GROUP_TYPE"  # the $groups type whose key is the account id
MAX_DECODED_BODY = 5_000_000  # bytes of a PostHog body once decompressed

_basic = HTTPBasic(auto_error=False, description="Segment: the write key as the user name")
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")
Basic = Annotated[HTTPBasicCredentials | None, Depends(_basic)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Id = str | int | None
Json = dict[str, Any]


class _Refusal(Exception):
    """An answer other than 200, in the protocol's terms."""

    def __init__(self, status: int, title: str, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code


class _TrackingRoute(APIRoute):
    """Decompresses gzip and deflate bodies (within `limit` bytes), and answers every error of
    the route as a problem document with Segment's `code` and `message` members."""

    limit: ClassVar[int]
    too_large: ClassVar[int]  # the status of a body over the limit
    challenge: ClassVar[str]  # WWW-Authenticate on a 401

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                decoded = Request(request.scope, request.receive)
                decoded._body = await self._decoded_body(request)
                return await original(decoded)
            except _Refusal as refusal:
                return self._answer(request, refusal)
            except RequestValidationError as invalid:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                    for e in invalid.errors()[:5]
                )
                return self._answer(
                    request, _Refusal(400, "Bad request", detail, "invalid_request")
                )
            except HTTPException as exc:
                code = "unauthorized" if exc.status_code == 401 else "http_error"
                return self._answer(
                    request, _Refusal(exc.status_code, "HTTP error", str(exc.detail), code)
                )

        return handler

    async def _decoded_body(self, request: Request) -> bytes:
        raw = await request.body()
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            body = raw
        elif encoding in ("gzip", "deflate"):
            wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
            inflater = zlib.decompressobj(wbits)
            try:
                body = inflater.decompress(raw, self.limit + 1)
            except zlib.error:
                raise _Refusal(
                    400, "Bad request", f"the body is not valid {encoding} data", "invalid_body"
                ) from None
        else:
            raise _Refusal(
                400,
                "Bad request",
                f"Content-Encoding {encoding!r} is not supported",
                "invalid_body",
            )
        if len(body) > self.limit:
            raise _Refusal(
                self.too_large,
                "Request body too large",
                f"the request body is over {self.limit:,} bytes (the limit)",
                "payload_too_large",
            )
        return body

    def _answer(self, request: Request, refusal: _Refusal) -> JSONResponse:
        body = problem(refusal.status, refusal.title, refusal.detail, request.url.path)
        body.update(code=refusal.code, message=refusal.detail)
        headers = {"WWW-Authenticate": self.challenge} if refusal.status == 401 else {}
        return JSONResponse(body, refusal.status, media_type=PROBLEM, headers=headers)


class _SegmentRoute(_TrackingRoute):
    limit = tracking.MAX_BATCH_BYTES
    too_large = 400  # Segment answers 400 Bad Request to an oversized request
    challenge = 'Basic realm="tenure"'


class _PosthogRoute(_TrackingRoute):
    limit = MAX_DECODED_BODY
    too_large = 413
    challenge = "Bearer"


# -- request and answer bodies -------------------------------------------------------------------
class SegmentCall(BaseModel):
    """One Segment call (track, page, screen, identify, group); other members are kept."""

    model_config = ConfigDict(extra="allow")

    type: str | None = Field(None, description="set by the route on /v1/track, /v1/page, ...")
    messageId: Id = Field(None, description="the client's id: a retry with it loads nothing twice")
    userId: Id = None
    anonymousId: Id = None
    event: str | None = Field(None, description="track: the event's name")
    name: str | None = Field(None, description="page, screen: the page's or screen's name")
    groupId: Id = Field(None, description="group: the account's id")
    timestamp: str | None = Field(None, description="ISO 8601 time of the call")
    sentAt: str | None = None
    properties: Json | None = None
    traits: Json | None = None
    context: Json | None = Field(None, description="`context.groupId` names a track call's account")
    writeKey: str | None = Field(None, description="the write key, when not sent as Basic auth")


class SegmentBatch(BaseModel):
    """A Segment batch: its calls, when it was sent, and context shared by its calls."""

    model_config = ConfigDict(extra="allow")

    batch: list[Json] = Field(description="calls, each with its `type`")
    sentAt: str | None = None
    context: Json | None = None
    writeKey: str | None = None


class SegmentAnswer(BaseModel):
    success: bool = True


class PosthogEvent(BaseModel):
    """One PostHog event; other members are kept."""

    model_config = ConfigDict(extra="allow")

    event: str | None = Field(None, description="the event's name ($pageview, $identify, ...)")
    distinct_id: Id = None
    properties: Json | None = Field(None, description="`$groups` names the event's account")
    timestamp: str | None = None
    uuid: str | None = Field(
        None, description="the client's id: a retry with it loads nothing twice"
    )


class PosthogRequest(PosthogEvent):
    """A PostHog request: a `batch` of events (/batch), or one event (/capture, /e, /i/v0/e)."""

    batch: list[Json] | None = None
    api_key: str | None = Field(None, description="the key (a Tenure key with the ingest role)")
    token: str | None = None
    sent_at: str | None = None
    historical_migration: bool | None = None


class PosthogAnswer(BaseModel):
    status: int = 1


# -- the routes ----------------------------------------------------------------------------------
segment_router = APIRouter(route_class=_SegmentRoute, tags=["tracking"])
posthog_router = APIRouter(route_class=_PosthogRoute, tags=["tracking"])
_ERRORS = errors(400, 401, 403)


def _authorize(store: Store, key: str | None) -> None:
    record = key_rules.check_key(store, key)
    if record is None:
        raise _Refusal(
            401,
            "Unauthorized",
            "send a Tenure key with the ingest role (the write key / project API key)",
            "invalid_api_key",
        )
    if not key_rules.allows(record.role, key_rules.INGEST):
        raise _Refusal(
            403,
            "Forbidden",
            f"this needs the ingest role; the key is {record.role}",
            "permission_denied",
        )


def _write(
    live: LiveWorkspace, batch: tracking.Batch, received_at: dt.datetime
) -> tracking_store.Applied:
    if not live.is_embedded:
        raise _Refusal(
            400, "Bad request", "tracking needs the embedded DuckDB store", "unsupported_store"
        )
    with live.writer() as ws:
        return tracking_store.apply(ws, batch, received_at)


def _segment(
    live: LiveWorkspace,
    store: Store,
    key: str | None,
    messages: Sequence[Any],
    *,
    sent_at: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> SegmentAnswer:
    _authorize(store, key)
    received_at = dt.datetime.now(dt.UTC)
    batch = tracking.segment(messages, received_at=received_at, sent_at=sent_at, context=context)
    applied = _write(live, batch, received_at)
    if applied.oversized:
        raise _Refusal(
            400,
            "Bad request",
            f"{applied.oversized} message(s) over {tracking.MAX_MESSAGE_BYTES:,} bytes were "
            f"rejected; the other {applied.accepted} were accepted",
            "message_too_large",
        )
    return SegmentAnswer()


def _segment_key(
    basic: HTTPBasicCredentials | None,
    bearer: HTTPAuthorizationCredentials | None,
    body: str | None,
) -> str | None:
    if basic is not None:
        return basic.username
    return bearer.credentials if bearer is not None else body


@segment_router.post(
    "/v1/batch",
    summary="Segment: a batch of calls",
    response_model=SegmentAnswer,
    responses=_ERRORS,
)
def segment_batch(
    live: Live, store: StoreDep, body: SegmentBatch, basic: Basic = None, bearer: Bearer = None
) -> SegmentAnswer:
    return _segment(
        live,
        store,
        _segment_key(basic, bearer, body.writeKey),
        body.batch,
        sent_at=body.sentAt,
        context=body.context,
    )


def _segment_call(kind: str) -> Callable[..., SegmentAnswer]:
    def call(
        live: Live, store: StoreDep, body: SegmentCall, basic: Basic = None, bearer: Bearer = None
    ) -> SegmentAnswer:
        message = {**body.model_dump(exclude_unset=True), "type": kind}
        return _segment(live, store, _segment_key(basic, bearer, body.writeKey), [message])

    call.__name__ = f"segment_{kind}"
    return call


for _kind in ("track", "identify", "group", "page", "screen"):
    segment_router.add_api_route(
        f"/v1/{_kind}",
        _segment_call(_kind),
        methods=["POST"],
        summary=f"Segment: one {_kind} call",
        response_model=SegmentAnswer,
        responses=_ERRORS,
    )


def _posthog(
    live: Live, store: StoreDep, body: PosthogRequest, bearer: Bearer = None
) -> PosthogAnswer:
    sent = body.model_dump(exclude_unset=True)
    properties = body.properties or {}
    key = (
        body.api_key
        or body.token
        or properties.get("token")
        or (bearer.credentials if bearer else None)
    )
    _authorize(store, key if isinstance(key, str) else None)
    if body.batch is not None:
        events: list[Any] = body.batch
    elif body.event is not None:
        events = [{k: v for k, v in sent.items() if k not in ("api_key", "token", "batch")}]
    else:
        raise _Refusal(
            400, "Bad request", "send a `batch` of events or one `event`", "invalid_payload"
        )
    received_at = dt.datetime.now(dt.UTC)
    group_type = os.environ.get(GROUP_TYPE_ENV, "").strip() or tracking.DEFAULT_GROUP_TYPE
    batch = tracking.posthog(
        events, received_at=received_at, sent_at=body.sent_at, group_type=group_type
    )
    applied = _write(live, batch, received_at)
    if applied.received and not applied.accepted:
        raise _Refusal(
            400,
            "Bad request",
            "no event was accepted: " + "; ".join(applied.reasons[:3]),
            "invalid_payload",
        )
    return PosthogAnswer()


for _path in ("/batch", "/batch/", "/capture", "/capture/", "/e", "/e/", "/i/v0/e", "/i/v0/e/"):
    posthog_router.add_api_route(
        _path,
        _posthog,
        methods=["POST"],
        summary="PostHog: capture events",
        response_model=PosthogAnswer,
        responses=_ERRORS,
        include_in_schema=not _path.endswith("/"),
    )

router = APIRouter()
router.include_router(segment_router)
router.include_router(posthog_router)
