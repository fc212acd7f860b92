"""A local server speaking the part of Stripe's HTTP API that the connector reads, for tests.

It serves objects (e.g. from tenure.demo.exporters.stripe) the way api.stripe.com does:
- list endpoints GET /v1/<collection> answer a list object {"object": "list", "data", "has_more",
  "url"}, newest first (created, then id, descending), paged by `limit` (1 to 100, default 10)
  and `starting_after`; filters `created[gt|gte|lt|lte]`, `customer`, and for subscriptions
  `status` (canceled ones hidden unless `status=all` or `canceled`); `expand[]` of ids anywhere
  along a dotted path (data.charge, data.lines.data.discounts);
- an invoice embeds the first `inline_lines` of its lines (10 at Stripe) with `has_more` and the
  url of GET /v1/invoices/{id}/lines, which pages the rest;
- an unknown parameter is a 400 invalid_request_error, an unknown starting_after a 404
  resource_missing, a missing or wrong `Authorization: Bearer` key a 401 (whose message echoes
  the key given, unmasked: worse than Stripe, so that a test that the connector keeps keys out of
  its errors can fail);
- `rate_limit_every` N answers every Nth request 429 with Stripe's rate_limit error body, a
  Retry-After header and, when `should_retry`, Stripe-Should-Retry: true;
- `fail_after` N makes every request after the Nth fail: `failure="drop"` closes the connection
  without an answer, `"error"` answers 500 api_error with Stripe-Should-Retry: false.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Obj = dict[str, Any]
LISTS = (
    "customers",
    "products",
    "prices",
    "coupons",
    "subscriptions",
    "invoices",
    "credit_notes",
    "refunds",
    "charges",
)
COMMON = {"limit", "starting_after", "ending_before", "expand", "created"}
PARAMS = {
    "customers": COMMON | {"email"},
    "products": COMMON | {"active"},
    "prices": COMMON | {"active", "product", "type"},
    "coupons": COMMON,
    "subscriptions": COMMON | {"customer", "status", "price"},
    "invoices": COMMON | {"customer", "status", "subscription"},
    "credit_notes": COMMON | {"customer", "invoice"},
    "refunds": COMMON | {"charge", "payment_intent"},
    "charges": COMMON | {"customer"},
    "lines": {"limit", "starting_after", "ending_before", "expand"},
}
RATE_LIMIT = {
    "code": "rate_limit",
    "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
    "message": "Request rate limit exceeded. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits.",
    "type": "invalid_request_error",
}


class Failure(Exception):
    def __init__(self, status: int, error: Obj, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error.get("message"))
        self.status, self.error, self.headers = status, error, dict(headers or {})


def _invalid(
    message: str, param: str | None = None, status: int = 400, code: str | None = None
) -> Failure:
    error: Obj = {"message": message, "type": "invalid_request_error"}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return Failure(status, error)


class StripeServer:
    def __init__(
        self,
        objects: Mapping[str, Sequence[Obj]],
        api_key: str,
        *,
        inline_lines: int = 10,
    ) -> None:
        self.api_key = api_key
        self.inline_lines = inline_lines
        self.rate_limit_every: int | None = None
        self.should_retry = True
        self.retry_after = 1
        self.fail_after: int | None = None
        self.failure = "drop"
        self.requests = 0
        self.rate_limited = 0
        self._lock = threading.Lock()
        self.by_id: dict[str, Obj] = {}
        self.lists: dict[str, list[Obj]] = {}
        for name, items in objects.items():
            ordered = sorted(items, key=lambda o: (-int(o.get("created", 0)), _desc(o["id"])))
            self.lists[name] = ordered
            for item in ordered:
                self.by_id[item["id"]] = item
        self.positions = {
            name: {o["id"]: i for i, o in enumerate(items)} for name, items in self.lists.items()
        }
        self.httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[StripeServer]:
        server = self

        class Handler(_Handler):
            stripe = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join()

    # -- one request --------------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            self.requests += 1
            return self.requests

    def answer(self, path: str, query: str, authorization: str | None) -> Obj:
        if authorization != f"Bearer {self.api_key}":
            given = (authorization or "").removeprefix("Bearer ")
            raise Failure(
                401,
                {
                    "message": f"Invalid API Key provided: {given}",
                    "type": "invalid_request_error",
                },
            )
        params = _params(query)
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "v1" and parts[1] in LISTS:
            name = parts[1]
            _check(params, PARAMS[name])
            items = [o for o in self.lists.get(name, []) if _matches(name, o, params)]
            return self._page(name, items, params, f"/v1/{name}")
        if len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[3] == "lines":
            _check(params, PARAMS["lines"])
            invoice = self.by_id.get(parts[2])
            if invoice is None or invoice.get("object") != "invoice":
                raise _invalid(f"No such invoice: '{parts[2]}'", "id", 404, "resource_missing")
            lines = invoice["lines"]["data"]
            return self._page("lines", lines, params, f"/v1/invoices/{parts[2]}/lines")
        raise _invalid(f"Unrecognized request URL (GET: {path}).", status=404)

    def _page(self, name: str, items: list[Obj], params: Mapping[str, Any], url: str) -> Obj:
        limit = _limit(params.get("limit"))
        start = 0
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            if after not in ids and after not in self.by_id:
                raise _invalid(
                    f"No such object: '{after}'", "starting_after", 404, "resource_missing"
                )
            start = ids.index(after) + 1 if after in ids else len(ids)
        page = [copy.deepcopy(o) for o in items[start : start + limit]]
        for item in page:
            if item.get("object") == "invoice":
                self._inline_lines(item)
            for path in params.get("expand", []):
                self._expand(item, path.split(".")[1:] if path.startswith("data.") else [])
        return {"object": "list", "data": page, "has_more": start + limit < len(items), "url": url}

    def _inline_lines(self, invoice: Obj) -> None:
        lines = invoice["lines"]["data"]
        invoice["lines"] = {
            "object": "list",
            "data": lines[: self.inline_lines],
            "has_more": len(lines) > self.inline_lines,
            "url": f"/v1/invoices/{invoice['id']}/lines",
            "total_count": len(lines),
        }

    def _expand(self, node: Any, path: list[str]) -> None:
        """Replace the ids at the end of `path` (through list objects' `data`) by their objects."""
        if not path:
            return
        key, rest = path[0], path[1:]
        if isinstance(node, list):
            for element in node:
                self._expand(element, path)
            return
        if not isinstance(node, dict) or key not in node:
            raise _invalid(f"This property cannot be expanded ({key}).", "expand")
        value = node[key]
        if rest:
            self._expand(value, rest)
        elif isinstance(value, list):
            node[key] = [
                copy.deepcopy(self.by_id.get(v, v)) if isinstance(v, str) else v for v in value
            ]
        elif isinstance(value, str):
            node[key] = copy.deepcopy(self.by_id.get(value, value))


def _desc(value: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in value)


def _params(query: str) -> Obj:
    """Stripe's form encoding: a[b]=1 -> {"a": {"b": "1"}}, expand[0]=x / expand[]=x -> lists."""
    params: Obj = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if "[" in key:
            name, sub = key.split("[", 1)
            sub = sub.rstrip("]")
            if name == "expand":
                params.setdefault("expand", []).append(value)
            else:
                params.setdefault(name, {})[sub] = value
        else:
            params[key] = value
    return params


def _check(params: Mapping[str, Any], allowed: set[str]) -> None:
    for key in params:
        if key not in allowed:
            raise _invalid(f"Received unknown parameter: {key}", key)


def _limit(value: Any) -> int:
    if value is None:
        return 10
    try:
        limit = int(value)
    except ValueError:
        raise _invalid("Invalid integer: " + str(value), "limit") from None
    if not 1 <= limit <= 100:
        raise _invalid("This value must be less than or equal to 100.", "limit")
    return limit


def _matches(name: str, item: Obj, params: Mapping[str, Any]) -> bool:
    created = params.get("created")
    if isinstance(created, dict):
        value = int(item.get("created", 0))
        tests = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
        for op, bound in created.items():
            if op not in tests:
                raise _invalid(f"Received unknown parameter: created[{op}]", "created")
            if not tests[op](int(bound)):
                return False
    elif created is not None and int(item.get("created", 0)) != int(created):
        return False
    for key in ("customer", "charge", "subscription", "product", "invoice"):
        if key in params and _ref(item.get(key)) != params[key]:
            return False
    if name == "subscriptions":
        status = params.get("status")
        if status is None:
            return bool(item.get("status") != "canceled")
        return status == "all" or item.get("status") == status
    if "status" in params:
        return bool(item.get("status") == params["status"])
    return True


def _ref(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    stripe: StripeServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the server's counters, not its log."""

    def do_GET(self) -> None:
        server = self.stripe
        n = server.count()
        if server.fail_after is not None and n > server.fail_after:
            if server.failure == "drop":
                self.close_connection = True
                return
            self._send(
                500,
                {"error": {"message": "An unknown error occurred", "type": "api_error"}},
                {"Stripe-Should-Retry": "false"},
            )
            return
        if server.rate_limit_every and n % server.rate_limit_every == 0:
            with server._lock:
                server.rate_limited += 1
            headers = {"Retry-After": str(server.retry_after)}
            if server.should_retry:
                headers["Stripe-Should-Retry"] = "true"
            self._send(429, {"error": RATE_LIMIT}, headers)
            return
        split = urlsplit(self.path)
        try:
            body = server.answer(split.path, split.query, self.headers.get("Authorization"))
        except Failure as failure:
            self._send(failure.status, {"error": failure.error}, failure.headers)
            return
        self._send(200, body, {})

    def _send(self, status: int, body: Obj, headers: Mapping[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{self.stripe.requests:012d}")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
