"""Finding 1: an editor's webhook and chat actions may not reach the server's own network. Literal
addresses are refused when the rule is created, names when they are sent (`localhost` resolves
to the loopback address), redirects are not followed, an allow-listed host gets through, and a
viewer reads a status class, never the network error nor the hook's URL."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tenure.api.app import create_app
from tenure.app import automations, outbound
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.workspace import Workspace
from tests.test_automations import Receiver, load_company

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DUE = dt.datetime(2026, 3, 4, 10)  # the company's ticket T1 has been open 48 hours by then
REFUSED_LITERALS = [
    "http://127.0.0.1:8080/hook",
    "http://2130706433:8080/hook",  # decimal loopback
    "http://0177.0.0.1/hook",  # octal
    "http://0x7f000001/hook",  # hex
    "http://127.1/hook",  # short form
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/hook",  # mapped metadata address
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://[fd00::1]/hook",  # unique local
    "http://[fe80::1]/hook",
    "http://0.0.0.0:8080/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "https://127.0.0.1/{{ account_id }}",  # the host is literal even if the path is a template
]


@pytest.fixture
def company(ws: Workspace) -> Workspace:
    return load_company(ws)


@pytest.fixture
def client(company: Workspace, store: Store) -> TestClient:
    return TestClient(create_app(company, store))


def _headers(store: Store, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(store, role, role)}"}


def _rule(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "hook",
        "trigger": {"type": "state_duration", "hours": 48},
        "actions": [action],
    }


@pytest.mark.parametrize("kind", ["webhook", "chat"])
def test_a_refused_address_written_in_the_rule_is_a_400_naming_the_field(
    client: TestClient, store: Store, kind: str
) -> None:
    """Every spelling on one server (a server per spelling made this module the suite's
    third slowest): each answer is checked, and all the wrong ones are named at once."""
    headers = _headers(store, "editor")
    wrong = {}
    for url in REFUSED_LITERALS:
        action = {"kind": kind, "url": url, **({"text": "hi"} if kind == "chat" else {})}
        answer = client.post("/api/automations", headers=headers, json=_rule(action))
        if answer.status_code != 400 or not answer.json()["detail"].startswith(
            "actions.0.url: refused:"
        ):
            wrong[url] = f"{answer.status_code} {answer.text[:200]}"
    assert not wrong, wrong


def test_only_http_and_https(client: TestClient, store: Store) -> None:
    headers = _headers(store, "editor")
    for url in ["file:///etc/passwd", "gopher://example.com/", "ftp://x/y"]:
        answer = client.post(
            "/api/automations", headers=headers, json=_rule({"kind": "webhook", "url": url})
        )
        assert answer.status_code == 400, url
        assert answer.json()["detail"] == "actions.0.url: refused: only http and https URLs"


def test_the_numeric_spellings_are_read_as_the_resolver_reads_them() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    for spelling in ("2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1"):
        assert outbound.literal_address(spelling) == loopback
        assert socket.inet_aton(spelling) == loopback.packed
    assert outbound.literal_address("hooks.example.com") is None
    assert outbound.literal_address("deadbeef.example") is None
    assert outbound.refusal(ipaddress.ip_address("93.184.215.14")) is None
    assert outbound.refusal(ipaddress.ip_address("2606:4700::1111")) is None
    assert outbound.refusal(ipaddress.ip_address("169.254.169.254")) == "link-local address"
    assert outbound.refusal(ipaddress.ip_address("::ffff:10.0.0.1")) == "private address"
    assert outbound.refusal(ipaddress.ip_address("2002:7f00:1::")) == "loopback address"  # 6to4


def _delivery(store: Store) -> dict[str, Any]:
    (delivery,) = automations.firings(store)
    return delivery


def test_a_name_that_resolves_to_loopback_is_refused_when_sending(
    company: Workspace, store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(outbound.ALLOW_ENV, raising=False)
    receiver = Receiver()
    port = receiver.server.server_address[1]
    rule = _rule({"kind": "webhook", "url": f"http://localhost:{port}/hook"})
    made = client.post("/api/automations", headers=_headers(store, "editor"), json=rule)
    assert made.status_code == 201, made.text  # a name is checked when it is sent
    automations.run(store, company, at=DUE)
    assert receiver.requests == []
    assert _delivery(store)["last_error"] == "refused: loopback address"
    receiver.server.shutdown()


def test_an_allow_listed_host_gets_through_pinned_to_the_checked_address(
    company: Workspace, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    port = receiver.server.server_address[1]
    monkeypatch.setenv(outbound.ALLOW_ENV, f"other.invalid,localhost:{port}")
    automations.create_rule(
        store, "hook", {"type": "state_duration", "hours": 48}, [],
        [{"kind": "webhook", "url": f"http://LocalHost:{port}/hook?x=1"}],
    )  # fmt: skip
    automations.run(store, company, at=DUE)
    assert _delivery(store)["status"] == "sent"
    (headers, _, _), = receiver.requests  # fmt: skip
    assert headers["host"] == f"localhost:{port}"  # connected to the address, named the host
    receiver.server.shutdown()


def test_an_allow_list_entry_with_a_port_lets_only_that_port_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(outbound.ALLOW_ENV, "127.0.0.1:9000")
    assert outbound.check_url("http://2130706433:9000/").allowed  # same address, any spelling
    with pytest.raises(outbound.OutboundError, match="refused: loopback address"):
        outbound.check_url("http://127.0.0.1:9001/")


class Redirector:
    """An allow-listed server that answers every POST with a redirect to `location`."""

    def __init__(self, location: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                self.send_response(302)
                self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def internal() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def test_a_redirect_is_not_followed(
    company: Workspace, store: Store, internal: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    redirector = Redirector(internal.url)
    monkeypatch.setenv(outbound.ALLOW_ENV, redirector.url.split("/")[2])  # only the redirector
    automations.create_rule(
        store, "hook", {"type": "state_duration", "hours": 48}, [],
        [{"kind": "chat", "url": redirector.url, "text": "{{ ticket_id }}"}],
    )  # fmt: skip
    automations.run(store, company, at=DUE)
    assert internal.requests == []
    assert _delivery(store)["last_error"] == "failed: redirect not followed (HTTP 302)"
    redirector.server.shutdown()


def test_a_viewer_reads_a_status_class_and_no_hook_url(
    company: Workspace, store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(outbound.ALLOW_ENV, "127.0.0.1")
    url = f"http://127.0.0.1:{port}/hooks/T0KEN-s3cret"
    made = client.post(
        "/api/automations",
        headers=_headers(store, "editor"),
        json=_rule({"kind": "webhook", "url": url}),
    )
    rule_id = made.json()["id"]
    automations.run(store, company, at=DUE)
    viewer = _headers(store, "viewer")
    (firing,) = client.get(f"/api/automations/{rule_id}/firings", headers=viewer).json()
    assert firing["last_error"] == "failed: connection error"
    (shown,) = client.get("/api/automations", headers=viewer).json()
    assert shown["actions"][0]["url"] == "http://127.0.0.1/[redacted]"
    assert "s3cret" not in client.get("/api/automations", headers=viewer).text
    (full,) = client.get("/api/automations", headers=_headers(store, "editor")).json()
    assert full["actions"][0]["url"] == url
