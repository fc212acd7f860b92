"""A local HubSpot CRM API for the connector tests: the documented v3 endpoints and page shapes,
`paging.next.after` cursors, Bearer authentication, rate limiting and error bodies, serving the
demo exporter's owners and companies.

- GET /crm/v3/owners/?limit=&after=   -> {results, paging?: {next: {after, link}}}
- GET /crm/v3/objects/companies?limit=&after=&properties=&propertiesWithHistory=&archived=
  -> {results: [{id, properties, propertiesWithHistory?, createdAt, updatedAt, archived}],
  paging?}; only the properties asked for are returned (plus HubSpot's defaults); with
  propertiesWithHistory a page holds at most 50 companies, as HubSpot documents.
- Missing or wrong token: 401 {"status": "error", "message": ..., "correlationId": ...,
  "category": "INVALID_AUTHENTICATION"}. `throttle(n)` answers the next n requests 429
  {"status": "error", "errorType": "RATE_LIMIT", "policyName": "SECONDLY", ...} with Retry-After. `fail_after_pages` = n
  answers 500 after n pages of companies (an outage mid-sync).
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

Obj = dict[str, Any]
DEFAULT_PROPERTIES = ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id")


class HubSpotServer:
    def __init__(self, data: dict[str, list[Obj]], token: str) -> None:
        self.data, self.token = data, token
        self.requests = 0
        self.throttled = 0
        self._throttle = 0
        self.retry_after = 1
        self.fail_after_pages: int | None = None  # company pages served before a 500
        self.company_pages = 0
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> HubSpotServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def throttle(self, requests: int, retry_after: int = 1) -> None:
        with self._lock:
            self._throttle, self.retry_after = requests, retry_after

    def _take_throttle(self) -> bool:
        with self._lock:
            self.requests += 1
            if self._throttle > 0:
                self._throttle -= 1
                self.throttled += 1
                return True
            return False

    def _page(self, rows: list[Obj], query: dict[str, str], path: str, most: int) -> Obj:
        limit = min(int(query.get("limit", "10")), most)
        start = int(query.get("after", "0"))
        body: Obj = {"results": rows[start : start + limit]}
        if start + limit < len(rows):
            after = str(start + limit)
            link = f"{self.url}{path}?{urlencode({**query, 'after': after})}"
            body["paging"] = {"next": {"after": after, "link": link}}
        return body

    def companies(self, query: dict[str, str], path: str) -> Obj:
        if self.fail_after_pages is not None and self.company_pages >= self.fail_after_pages:
            raise ConnectionAbortedError("the listing broke off")
        self.company_pages += 1
        wanted = [p for p in query.get("properties", "").split(",") if p] or list(
            DEFAULT_PROPERTIES
        )
        history = [p for p in query.get("propertiesWithHistory", "").split(",") if p]
        rows = []
        for company in self.data["companies"]:
            row = {k: v for k, v in company.items() if k != "propertiesWithHistory"}
            row["properties"] = {
                k: v for k, v in company["properties"].items() if k in wanted or k == "hs_object_id"
            }
            if history:
                row["propertiesWithHistory"] = {
                    k: v for k, v in company["propertiesWithHistory"].items() if k in history
                }
            rows.append(row)
        return self._page(rows, query, path, 50 if history else 100)

    def route(self, path: str, query: dict[str, str]) -> Obj | None:
        if path.rstrip("/") == "/crm/v3/owners":
            return self._page(self.data["owners"], query, path, 500)
        if path.rstrip("/") == "/crm/v3/objects/companies":
            return self.companies(query, path)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _json(self, status: int, body: Obj, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if server._take_throttle():
                    self._json(
                        429,
                        {
                            "status": "error",
                            "message": "You have reached your secondly limit.",
                            "errorType": "RATE_LIMIT",
                            "correlationId": str(uuid.uuid4()),
                            "policyName": "SECONDLY",
                        },
                        {"Retry-After": str(server.retry_after)},
                    )
                    return
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._json(
                        401,
                        {
                            "status": "error",
                            "message": "Authentication credentials not found.",
                            "correlationId": str(uuid.uuid4()),
                            "category": "INVALID_AUTHENTICATION",
                        },
                    )
                    return
                parts = urlsplit(self.path)
                # Lists come comma-separated or repeated (the Python client repeats them).
                query = {k: ",".join(v) for k, v in parse_qs(parts.query).items()}
                try:
                    body = server.route(parts.path, query)
                except ConnectionAbortedError:
                    self._json(
                        500,
                        {
                            "status": "error",
                            "message": "internal error",
                            "correlationId": str(uuid.uuid4()),
                        },
                    )
                    return
                if body is None:
                    self._json(
                        404,
                        {
                            "status": "error",
                            "message": "Resource not found",
                            "correlationId": str(uuid.uuid4()),
                            "category": "OBJECT_NOT_FOUND",
                        },
                    )
                else:
                    self._json(200, body)

        return Handler
