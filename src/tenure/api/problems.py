"""Errors as RFC 9457 problem details, and a request-size limit enforced before parsing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenure.errors import TenureError

PROBLEM = "application/problem+json"


class Problem(HTTPException):
    """An error a route raises on purpose: its status, a short title and the detail."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(status_code=status, detail=detail)
        self.title = title


def problem(status: int, title: str, detail: str = "", instance: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    return body


def _respond(request: Request, status: int, title: str, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        problem(status, title, detail, request.url.path),
        status,
        media_type=PROBLEM,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Answer every error, expected or not, with a problem document (a 500 says nothing more)."""

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return _respond(request, exc.status_code, exc.title, str(exc.detail))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return _respond(request, exc.status_code, "HTTP error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]
        )
        return _respond(request, 422, "Invalid request", errors)

    @app.exception_handler(TenureError)
    async def on_tenure(request: Request, exc: TenureError) -> JSONResponse:
        status = getattr(exc, "status", 400)
        return _respond(request, status, "Request cannot be served", str(exc))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        return _respond(request, 500, "Internal error", "the server could not complete the request")


class BodyLimit:
    """Refuse bodies larger than `limit` bytes with 413, whether or not they say their size, and
    NUL characters in the path or query (which no text column or filter accepts) with 400."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in raw or b"\x00" in raw:
            await self._refuse(scope, send, 400, "Bad request", "NUL characters are not allowed")
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(
        self, scope: Scope, send: Send, status: int = 413, title: str = "", detail: str = ""
    ) -> None:
        title = title or "Request body too large"
        detail = detail or f"the limit is {self.limit:,} bytes"
        body = json.dumps(problem(status, title, detail, scope.get("path", ""))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
