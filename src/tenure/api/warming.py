"""A server that answers from its first moment.

Building the application (opening the stores, importing pandas, Ibis and the routes) takes a few
seconds; `Warming` lets the socket open first and builds the application on a thread meanwhile.
`/health` answers at once (`starting`, then `ok`); every other request waits for the application
and is then served by it, or gets a 503 problem document if building it failed (the server then
stops, and `tenure serve` reports why). The application's own lifespan (its background jobs) runs
once it is built and ends with the server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Warming:
    """An ASGI application standing in for the one `build` returns (a FastAPI app) until it is
    built; `on_failure` is called with the error if building fails."""

    def __init__(
        self, build: Callable[[], Any], on_failure: Callable[[BaseException], None]
    ) -> None:
        self._build = build
        self._on_failure = on_failure
        self._task: asyncio.Task[None] | None = None
        self._lifespan: AbstractAsyncContextManager[Any] | None = None
        self.app: Any = None
        self.error: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan_events(receive, send)
            return
        if self.app is None and self.error is None and scope.get("path") == "/health":
            await _answer(send, 200, {"status": "starting"}, "application/json")
            return
        if self._task is not None:
            await asyncio.shield(self._task)  # a request that goes away does not stop the build
        if self.app is None:
            detail = f"the server could not start: {self.error}"
            problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503}
            await _answer(send, 503, {**problem, "detail": detail}, "application/problem+json")
            return
        await self.app(scope, receive, send)

    async def _start(self) -> None:
        try:
            app = await asyncio.to_thread(self._build)
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
        except Exception as exc:
            self.error = exc
            self._on_failure(exc)
            return
        self._lifespan = lifespan
        self.app = app

    async def _lifespan_events(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._task = asyncio.create_task(self._start())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._task is not None:
                    await self._task  # the stores close only after the build has finished
                if self._lifespan is not None:
                    await self._lifespan.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Send, status: int, body: dict[str, Any], media_type: str) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", media_type.encode()), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
