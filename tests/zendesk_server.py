"""A local Zendesk Support API for the connector tests: the documented endpoints, page shapes,
cursors, authentication, rate limiting and error bodies, serving the demo exporter's objects.

- GET /api/v2/incremental/tickets/cursor.json?start_time=|cursor=&per_page=&include=
  cursor-based incremental export: {tickets, after_cursor, after_url, before_cursor,
  before_url, end_of_stream}; ordered by updated_at then id; the cursor of the last page resumes
  after it, so later changes arrive on the next call.
- GET /api/v2/incremental/organizations.json?start_time= time-based export: {organizations,
  next_page, end_time, count, end_of_stream}; start_time is inclusive, as Zendesk's is.
- GET /api/v2/ticket_metrics.json, /api/v2/satisfaction_ratings(.json) cursor pagination:
  page[size], page[after] -> {..., meta: {has_more, after_cursor, before_cursor}, links}.
- Basic authentication `{email}/token:{token}`; otherwise 401 {"error": "Couldn't authenticate
  you"}. `throttle(n)` answers the next n requests 429 with Retry-After (seconds) and Zendesk's
  text body. Unknown paths: 404 {"error": "InvalidEndpoint", "description": "Not found"}.
  `fail_after_pages` = n answers 500 after n pages of the ticket export (an outage mid-sync).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

Obj = dict[str, Any]


def _epoch(iso: str) -> int:
    import datetime as dt

    return int(dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp())


def _encode(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}.{position[1]}".encode()).decode()


def _decode(cursor: str) -> tuple[int, int]:
    updated, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split(".")
    return int(updated), int(ident)


class ZendeskServer:
    def __init__(self, data: dict[str, list[Obj]], email: str, token: str) -> None:
        self.data = data
        self.email, self.token = email, token
        self.retry_after = 1
        self.requests = 0
        self.throttled = 0
        self._throttle = 0
        self.fail_after_pages: int | None = None  # ticket export pages served before a 500
        self.ticket_pages = 0
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> ZendeskServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def throttle(self, requests: int, retry_after: int = 1) -> None:
        with self._lock:
            self._throttle, self.retry_after = requests, retry_after

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        return header == f"Basic {expected}"

    def _take_throttle(self) -> bool:
        with self._lock:
            self.requests += 1
            if self._throttle > 0:
                self._throttle -= 1
                self.throttled += 1
                return True
            return False

    # -- endpoints -------------------------------------------------------------------------------
    def incremental_tickets(self, query: dict[str, str]) -> Obj | None:
        if self.fail_after_pages is not None and self.ticket_pages >= self.fail_after_pages:
            raise ConnectionAbortedError("the export broke off")
        self.ticket_pages += 1
        per_page = min(int(query.get("per_page", "1000")), 1000)
        if "cursor" in query:
            after = _decode(query["cursor"])
        else:
            after = (int(query["start_time"]) - 1, 2**62)
        ordered = sorted(self.data["tickets"], key=lambda t: (_epoch(t["updated_at"]), t["id"]))
        newer = [t for t in ordered if (_epoch(t["updated_at"]), t["id"]) > after]
        page = newer[:per_page]
        end = len(newer) <= per_page
        last = (_epoch(page[-1]["updated_at"]), page[-1]["id"]) if page else after
        cursor = _encode(last)
        base = f"{self.url}/api/v2/incremental/tickets/cursor.json"
        return {
            "tickets": page,
            "after_cursor": cursor,
            "after_url": f"{base}?{urlencode({'cursor': cursor, 'per_page': per_page})}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": end,
        }

    def incremental_organizations(self, query: dict[str, str]) -> Obj:
        start = int(query["start_time"])
        per_page = min(int(query.get("per_page", "1000")), 1000)
        ordered = sorted(
            self.data["organizations"], key=lambda o: (_epoch(o["updated_at"]), o["id"])
        )
        page = [o for o in ordered if _epoch(o["updated_at"]) >= start][:per_page]
        end_time = _epoch(page[-1]["updated_at"]) if page else start
        return {
            "organizations": page,
            "next_page": f"{self.url}/api/v2/incremental/organizations.json?start_time={end_time}",
            "end_time": end_time,
            "count": len(page),
            "end_of_stream": len(page) < per_page,
        }

    def cursor_list(self, name: str, query: dict[str, str], path: str) -> Obj:
        size = min(int(query.get("page[size]", "100")), 100)
        rows = sorted(self.data[name], key=lambda r: r["id"])
        if "start_time" in query:
            rows = [r for r in rows if _epoch(r["updated_at"]) >= int(query["start_time"])]
        after = (
            int(base64.urlsafe_b64decode(query["page[after]"]).decode())
            if "page[after]" in query
            else -1
        )
        rest = [r for r in rows if r["id"] > after]
        page = rest[:size]
        more = len(rest) > size
        after_cursor = (
            base64.urlsafe_b64encode(str(page[-1]["id"]).encode()).decode() if page else None
        )
        kept = {k: v for k, v in query.items() if k != "page[after]"}
        nxt = (
            f"{self.url}{path}?{urlencode({**kept, 'page[after]': after_cursor})}" if more else None
        )
        return {
            name: page,
            "meta": {"has_more": more, "after_cursor": after_cursor, "before_cursor": None},
            "links": {"next": nxt, "prev": None},
        }

    def route(self, path: str, query: dict[str, str]) -> Obj | None:
        if path == "/api/v2/incremental/tickets/cursor.json":
            return self.incremental_tickets(query)
        if path == "/api/v2/incremental/organizations.json":
            return self.incremental_organizations(query)
        if path in ("/api/v2/ticket_metrics.json", "/api/v2/ticket_metrics"):
            return self.cursor_list("ticket_metrics", query, path)
        if path in ("/api/v2/satisfaction_ratings.json", "/api/v2/satisfaction_ratings"):
            return self.cursor_list("satisfaction_ratings", query, path)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, body: Obj) -> None:
                self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

            def do_GET(self) -> None:
                if server._take_throttle():
                    self._send(
                        429,
                        b"Rate limit exceeded",
                        {"Retry-After": str(server.retry_after), "Content-Type": "text/plain"},
                    )
                    return
                if not server._authorized(self.headers.get("Authorization")):
                    self._json(401, {"error": "Couldn't authenticate you"})
                    return
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                try:
                    body = server.route(parts.path, query)
                except ConnectionAbortedError:
                    self._json(500, {"error": "InternalError", "description": "Server error"})
                    return
                except (KeyError, ValueError):
                    self._json(
                        400, {"error": "InvalidPaginationParameter", "description": "Bad cursor"}
                    )
                    return
                if body is None:
                    self._json(404, {"error": "InvalidEndpoint", "description": "Not found"})
                else:
                    self._json(200, body)

        return Handler
