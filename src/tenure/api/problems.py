"""Errors as RFC 9457 problem details, and a request-size limit enforced before parsing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenure.api.schemas import ProblemDetails
from tenure.errors import TenureError

PROBLEM = "application/problem+json"


class Problem(HTTPException):
    """An error a route raises on purpose: its status, a short title, the detail and any
    headers (Retry-After on a 429)."""

    def __init__(
        self, status: int, title: str, detail: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.title = title


_MEANINGS = {
    400: "The request cannot be served: a filter, period, range or value the engine refuses, "
    "a result larger than the limit, or NUL characters in the address",
    401: "No valid API key or dashboard session",
    403: "The key's role does not allow this, or a session write lacks its CSRF header",
    404: "No such resource",
    409: "The request conflicts with the current state",
    413: "The request body is larger than the limit",
    422: "A parameter or body field does not fit its schema",
    429: "Too many expensive requests from this key; retry after Retry-After seconds",
    503: "The query ran past the time limit and was stopped; narrow it and retry",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds", "schema": {"type": "string"}}},
}
# Statuses every route with a key can answer, and those of routes that read the engine.
PROTECTED = (400, 401, 403, 422)
READS = (*PROTECTED, 503)
EXPENSIVE = (*READS, 429)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses: problem documents (RFC 9457)."""
    reference = {"$ref": "#/components/schemas/ProblemDetails"}
    return {
        status: {
            "description": _MEANINGS[status],
            "content": {PROBLEM: {"schema": reference}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in sorted(set(statuses))
    }


def problem(status: int, title: str, detail: str = "", instance: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    return body


def _respond(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
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
        return _respond(request, exc.status_code, exc.title, str(exc.detail), exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _respond(request, exc.status_code, "HTTP error", str(exc.detail), exc.headers)

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

    build = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated schema, with the problem document every error response refers to."""
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["ProblemDetails"] = ProblemDetails.model_json_schema()
            for methods in schema.get("paths", {}).values():
                for operation in methods.values():
                    _declare_common(operation)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_common(operation: dict[str, Any]) -> None:
    """What any operation can answer: with a key, the statuses of `PROTECTED` (the key checks,
    422 as a problem document rather than FastAPI's default body); with a request body, 413; any
    operation, 400 for NUL characters in the address (see BodyLimit); with a path parameter (a
    resource by its id or name), 404."""
    responses = operation.setdefault("responses", {})
    common = [400, *(PROTECTED if operation.get("security") else ())]
    if "requestBody" in operation:
        common.append(413)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        common.append(404)
    for status, response in errors(*common).items():
        if str(status) == "422" or str(status) not in responses:
            responses[str(status)] = response


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
