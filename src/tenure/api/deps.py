"""What a route needs, handed over by FastAPI: the live workspace, the app store, the caller's
key with its role, cached and bounded reads (`CachedReads`), and a way to record what the caller
did.

The dependencies that only look at memory are `async`: FastAPI runs them on the event loop,
where a sync one would take a trip through its thread pool per request (and under load each trip
waits for the interpreter lock). The key is looked up on the loop when it is in memory, on a
pool thread when the app store must be read.

Routes read the analytical store through `CachedReads` or inside `with live.reader() as ws:`,
and write inside `with live.writer() as ws:`, in the route body: FastAPI enters a sync dependency on a pool thread
that need not be the one running the route, and a reader's cursor belongs to its thread."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import pandas as pd
from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter

from tenure.api.problems import Problem
from tenure.app import auth
from tenure.app import keys as key_rules
from tenure.app.store import ApiKey, AuditEntry, Store
from tenure.engine.deadline import deadline
from tenure.live import LiveWorkspace, Stamp
from tenure.workspace import EVERYTHING, Workspace

log = logging.getLogger(__name__)
CACHE_BYTES = 256 * 1024 * 1024
CACHE_HEADER = "X-Tenure-Cache"  # hit | shared | miss: how a cached read's answer was made


@dataclass
class Cached:
    """A result with the versions it was computed at, the tables it read, how to compute it
    again and when it was last asked for (the server renews recent ones after a write)."""

    value: Any
    stamp: Stamp
    reads: frozenset[str]
    compute: Callable[[Workspace], Any]
    used: float = field(default_factory=time.monotonic)
    # The versions of what the result read besides the tracked tables (the account snapshot's,
    # the app store's state): valid only while they are the same. Not part of the key, so an
    # answer keeps one entry as they move instead of leaving one behind per version.
    beside: Hashable = None


def size_of(value: Any) -> int:
    """Bytes a cached result holds: a frame's deep memory usage (its rows and strings)."""
    if isinstance(value, Cached):
        return size_of(value.value)
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=True, index=True).sum())
    if isinstance(value, tuple | list):
        return sum(size_of(v) for v in value)
    return sys.getsizeof(value)


class ResultCache:
    """Results by request and data version, at most `size` of them and `max_bytes` in all
    (oldest out first; a result larger than `max_bytes` is not kept). The lock guards the dict
    only; results are computed outside it."""

    def __init__(self, size: int = 256, max_bytes: int = CACHE_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._flights: dict[Hashable, tuple[threading.Lock, int]] = {}

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            return None if item is None else item[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.size or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    @contextlib.contextmanager
    def flight(self, key: Hashable) -> Iterator[None]:
        """Hold `key`'s turn: concurrent requests for one result compute it once, the others
        wait and then find it cached."""
        with self._lock:
            turn, waiting = self._flights.get(key, (threading.Lock(), 0))
            self._flights[key] = (turn, waiting + 1)
        try:
            with turn:
                yield
        finally:
            with self._lock:
                turn, waiting = self._flights[key]
                if waiting == 1:
                    del self._flights[key]
                else:
                    self._flights[key] = (turn, waiting - 1)

    def recent(self, seconds: float) -> list[tuple[Hashable, Any]]:
        """The entries asked for within the last `seconds`, most recent first."""
        since = time.monotonic() - seconds
        with self._lock:
            found = [
                (key, value)
                for key, (value, _) in self._items.items()
                if getattr(value, "used", 0) >= since
            ]
        return sorted(found, key=lambda item: -item[1].used)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_minute`."""

    def __init__(
        self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.per_second = per_minute / 60
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> float:
        """Spend one token of `key`: 0 when there was one, else the seconds until there is."""
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.per_second if self.per_second > 0 else math.inf

    @classmethod
    def from_environment(cls) -> RateLimiter:
        """$TENURE_RATE_BURST (default 30) and $TENURE_RATE_PER_MINUTE (default 60)."""
        return cls(
            _positive("TENURE_RATE_BURST", 30), float(_positive("TENURE_RATE_PER_MINUTE", 60))
        )


def _positive(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    return int(text) if text.isdigit() and int(text) > 0 else default


_limiter_lock = threading.Lock()


async def _live(request: Request) -> LiveWorkspace:
    live: LiveWorkspace = request.app.state.live
    return live


async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _base_url(request: Request) -> str:
    base: str = request.app.state.base_url
    return base


Live = Annotated[LiveWorkspace, Depends(_live)]
StoreDep = Annotated[Store, Depends(_store)]
BaseUrl = Annotated[str, Depends(_base_url)]

# Declared as OpenAPI security schemes; the dependency reads them and checks the key itself.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


async def api_key(
    request: Request,
    store: StoreDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    x_api_key: Annotated[str | None, Depends(_header)] = None,
) -> ApiKey:
    """The caller's key, from its API key or its dashboard session (401 without either). A key
    already looked up while the app store is unchanged is answered on the event loop; reading
    the store (a key's first use, a session) runs on a pool thread."""
    token = x_api_key or (bearer.credentials if bearer else None)
    known, record = key_rules.recalled_key(store, token) if token else (False, None)
    if not known:
        try:
            record = await run_in_threadpool(
                functools.partial(
                    auth.authenticate,
                    store,
                    method=request.method,
                    token=token,
                    cookies=dict(request.cookies),
                    csrf_header=request.headers.get(auth.CSRF_HEADER),
                )
            )
        except auth.CsrfRefused as exc:
            raise Problem(403, "Forbidden", str(exc)) from None
    if record is None:
        raise Problem(401, "Unauthorized", "send a valid API key as `Authorization: Bearer <key>`")
    return record


def role(needed: str) -> Callable[..., Awaitable[ApiKey]]:
    async def check(key: Annotated[ApiKey, Depends(api_key)]) -> ApiKey:
        if not key_rules.allows(key.role, needed):
            raise Problem(403, "Forbidden", f"this needs the {needed} role; the key is {key.role}")
        return key

    return check


Viewer = Annotated[ApiKey, Depends(role("viewer"))]
Editor = Annotated[ApiKey, Depends(role("editor"))]
Admin = Annotated[ApiKey, Depends(role("admin"))]


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    with _limiter_lock:
        limiter: RateLimiter | None = getattr(state, "limiter", None)
        if limiter is None:
            limiter = state.limiter = RateLimiter.from_environment()
    return limiter


def _charge(limiter: RateLimiter, key: ApiKey) -> None:
    """Spend one of the key's tokens (429 when none is left, with Retry-After in seconds)."""
    wait = limiter.take(key.id)
    if wait:
        seconds = max(1, math.ceil(wait)) if wait != math.inf else 3600
        raise Problem(
            429,
            "Too many requests",
            f"this key has sent too many expensive requests; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


async def throttled(request: Request, key: Viewer) -> ApiKey:
    """A viewer's key, spending one of its tokens for an expensive read that is never cached."""
    _charge(_limiter(request), key)
    return key


Expensive = Annotated[ApiKey, Depends(throttled)]

T = TypeVar("T")


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


class Reads:
    """An expensive read of one request: served from the cache while the data version holds;
    otherwise computed once on a bounded reader (concurrent requests for the same result wait
    for it) and paid for with one of the caller's tokens. Cache hits cost no token."""

    def __init__(
        self,
        live: LiveWorkspace,
        cache: ResultCache,
        limiter: RateLimiter,
        key: ApiKey,
        request: Request | None = None,
    ) -> None:
        self.live = live
        self.cache = cache
        self.limiter = limiter
        self.key = key
        self.request = request
        # How the last read was served: "hit" from the cache, "shared" by waiting for the same
        # computation another request ran, "miss" computed here (the X-Tenure-Cache header).
        self.served = ""

    def respond(
        self,
        build: Callable[[Workspace], Any],
        shape: Any,
        *,
        derived: bool = False,
        store_state: Hashable = None,
    ) -> Response:
        """The request's whole JSON answer (`build`'s result serialised as `shape`, the route's
        response model), cached as bytes by the request's path and query: a hit is a dictionary
        look-up, with no frame conversion or validation. `derived`: the answer reads the
        account snapshot, so a snapshot refresh also renews it. `store_state`: the app store's
        state (`Store.state`) when the answer reads it, which no data version covers."""
        assert self.request is not None, "a whole answer is cached by its request"
        url = self.request.url
        snapshot = self.live.derived_version if derived else None

        def render(ws: Workspace) -> bytes:
            if derived:  # the snapshot is read outside the tracked tables, and follows all
                ws.note_read(EVERYTHING)
            body: bytes = _adapter(shape).dump_json(build(ws))
            return body

        body = self(("response", url.path, url.query), render, beside=(snapshot, store_state))
        return Response(body, media_type="application/json", headers={CACHE_HEADER: self.served})

    def __call__(
        self,
        what: tuple[Hashable, ...],
        compute: Callable[[Workspace], T],
        *,
        beside: Hashable = None,
    ) -> T:
        # Valid while the tables the computation read are unchanged, so nothing stale is served
        # after new data arrives, and a load of events keeps the revenue pages cached.
        hit = current(self.live, self.cache, what, beside)
        if hit is not None:
            self.served = "hit"
            hit.used = time.monotonic()
            return hit.value  # type: ignore[no-any-return]
        with self.cache.flight(what):
            again = current(self.live, self.cache, what, beside)
            if again is not None:
                self.served = "shared"
                return again.value  # type: ignore[no-any-return]
            self.served = "miss"
            _charge(self.limiter, self.key)
            cached = _compute(self.live, compute)
            cached.beside = beside
            self.cache.put(what, cached)
            return cached.value  # type: ignore[no-any-return]


def current(
    live: LiveWorkspace, cache: ResultCache, what: Hashable, beside: Hashable = None
) -> Cached | None:
    """The cached result for `what` if it is still valid (and was computed at `beside`)."""
    cached: Cached | None = cache.get(what)
    if cached is not None and cached.beside == beside and live.holds(cached.stamp, cached.reads):
        return cached
    return None


def _compute(live: LiveWorkspace, compute: Callable[[Workspace], Any]) -> Cached:
    """Compute on a bounded reader, noting the versions before and the tables read."""
    stamp = live.stamp()
    with bounded_reader(live) as ws:
        ws.reads = set()
        try:
            value = compute(ws)
            reads = frozenset(ws.reads)
        finally:
            ws.reads = None
    return Cached(value, stamp, reads, compute)


RENEW_RECENT_SECONDS = 900


def renew(live: LiveWorkspace, cache: ResultCache, seconds: float = RENEW_RECENT_SECONDS) -> int:
    """After a write: compute again the results asked for in the last `seconds` that it made
    stale, most recent first, so the next view of a page is answered from the cache. Requests
    arriving meanwhile share these computations (or these theirs). Returns how many it renewed."""
    renewed = 0
    for what, cached in cache.recent(seconds):
        # An answer read from the account snapshot holds for its version: after the snapshot
        # refresh that follows this write, the next request for it computes it again.
        if EVERYTHING in cached.reads or live.holds(cached.stamp, cached.reads):
            continue
        with cache.flight(what):
            if current(live, cache, what, cached.beside) is not None:
                continue  # a request renewed it meanwhile
            try:
                fresh = _compute(live, cached.compute)
            except Exception:  # the request that asks next gets the error; renew the others
                log.warning("could not renew a cached result", exc_info=True)
                continue
            fresh.used, fresh.beside = cached.used, cached.beside
            cache.put(what, fresh)
            renewed += 1
    return renewed


async def _reads(request: Request, key: Viewer) -> Reads:
    return Reads(request.app.state.live, request.app.state.cache, _limiter(request), key, request)


CachedReads = Annotated[Reads, Depends(_reads)]


@contextlib.contextmanager
def bounded_reader(live: LiveWorkspace) -> Iterator[Workspace]:
    """`live.reader()` whose engine queries are interrupted after the time limit
    ($TENURE_QUERY_SECONDS, default 30 s; the request then answers 503)."""
    with live.reader() as ws:
        if not ws.is_embedded:
            yield ws
            return
        with deadline(ws.duckdb):
            yield ws


def audit(store: Store, key: ApiKey, action: str, detail: str) -> None:
    """Record in the audit log that `key` did `action`."""
    with store.session() as session:
        session.add(AuditEntry(actor=key.name, action=action, detail=detail[:2000]))
