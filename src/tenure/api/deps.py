"""What a route needs, handed over by FastAPI: the live workspace, the app store, the caller's
key with its role, the metric result cache, and a way to record what the caller did.

Routes read the analytical store inside `with live.reader() as ws:` and write inside
`with live.writer() as ws:`, in the route body: FastAPI enters a sync dependency on a pool thread
that need not be the one running the route, and a reader's cursor belongs to its thread."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from tenure.api.problems import Problem
from tenure.app import auth
from tenure.app import keys as key_rules
from tenure.app.store import ApiKey, AuditEntry, Store
from tenure.live import LiveWorkspace


class ResultCache:
    """Results by request and data version, at most `size` of them (oldest out first). The lock
    guards the dict only; results are computed outside it."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def _live(request: Request) -> LiveWorkspace:
    live: LiveWorkspace = request.app.state.live
    return live


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _cache(request: Request) -> ResultCache:
    cache: ResultCache = request.app.state.cache
    return cache


def _base_url(request: Request) -> str:
    base: str = request.app.state.base_url
    return base


Live = Annotated[LiveWorkspace, Depends(_live)]
StoreDep = Annotated[Store, Depends(_store)]
Cache = Annotated[ResultCache, Depends(_cache)]
BaseUrl = Annotated[str, Depends(_base_url)]


def api_key(
    request: Request,
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> ApiKey:
    """The caller's key, from its API key or its dashboard session (401 without either)."""
    try:
        record = auth.authenticate(
            store,
            method=request.method,
            token=auth.bearer(authorization, x_api_key),
            cookies=dict(request.cookies),
            csrf_header=request.headers.get(auth.CSRF_HEADER),
        )
    except auth.CsrfRefused as exc:
        raise Problem(403, "Forbidden", str(exc)) from None
    if record is None:
        raise Problem(401, "Unauthorized", "send a valid API key as `Authorization: Bearer <key>`")
    return record


def role(needed: str) -> Callable[..., ApiKey]:
    def check(key: Annotated[ApiKey, Depends(api_key)]) -> ApiKey:
        if not key_rules.allows(key.role, needed):
            raise Problem(403, "Forbidden", f"this needs the {needed} role; the key is {key.role}")
        return key

    return check


Viewer = Annotated[ApiKey, Depends(role("viewer"))]
Editor = Annotated[ApiKey, Depends(role("editor"))]
Admin = Annotated[ApiKey, Depends(role("admin"))]


def audit(store: Store, key: ApiKey, action: str, detail: str) -> None:
    """Record in the audit log that `key` did `action`."""
    with store.session() as session:
        session.add(AuditEntry(actor=key.name, action=action, detail=detail[:2000]))
