"""Every HTTP request the application makes on its own (webhooks, chat messages) goes through
`post`: the URL may only be http or https, its host is resolved and refused if any address it
resolves to is not a public one (loopback, private, link-local and cloud metadata, carrier-grade
NAT, multicast, unspecified, reserved, and IPv4-mapped or embedded forms of these), and the
request connects to the very address that was checked (the Host header and TLS server name stay
the URL's host), so a DNS answer that changes between check and connect cannot redirect it.
Redirects are never followed: a 3xx answer is a failure.

An administrator lets chosen hosts through with TENURE_OUTBOUND_ALLOW, a comma-separated list of
`host` or `host:port` (IPv6 in brackets: `[::1]:9000`), e.g.
`TENURE_OUTBOUND_ALLOW="hooks.internal:8443,127.0.0.1:9000"`. An allow-listed entry matches the
URL's host as written (names case-insensitively, addresses in any spelling) and, if it names a
port, the URL's port.

Failures are raised as `OutboundError` whose message is a short status class ("refused: loopback
address", "failed: HTTP 5xx", "failed: timeout"): it is what viewers of the firings see; the
network detail goes to the server log only."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from tenure.errors import TenureError

ALLOW_ENV = "TENURE_OUTBOUND_ALLOW"
SCHEMES = ("http", "https")
log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC = re.compile(r"^[0-9a-fA-FxX.]+$")


class OutboundError(TenureError):
    """A request that was refused or failed; the message is its status class."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts, its host and effective port, and whether it is allow-listed."""

    parts: SplitResult
    host: str
    port: int
    allowed: bool


def literal_address(host: str) -> Address | None:
    """The address a host written as a number stands for, in every spelling the system resolver
    accepts (`127.0.0.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`, `::1`), or None for a
    name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def refusal(address: Address) -> str | None:
    """Why requests to `address` are refused ("loopback address", ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    checks = (
        (address.is_unspecified, "unspecified address"),
        (address.is_loopback, "loopback address"),
        (address.is_link_local, "link-local address"),
        (address.is_multicast, "multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared address"),
        (address.is_private, "private address"),
        (address.is_reserved, "reserved address"),
        (not address.is_global, "non-public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _allow_list(text: str) -> list[tuple[str, int | None]]:
    entries: list[tuple[str, int | None]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = urlsplit(f"//{item}")
        try:
            port = parts.port
        except ValueError:
            raise TenureError(f"{ALLOW_ENV}: {item!r} has no valid port") from None
        if not parts.hostname:
            raise TenureError(f"{ALLOW_ENV}: {item!r} names no host")
        entries.append((parts.hostname.lower(), port))
    return entries


def _same_host(entry: str, host: str) -> bool:
    if entry == host:
        return True
    a, b = literal_address(entry), literal_address(host)
    return a is not None and a == b


def allowed(host: str, port: int, allow: str | None = None) -> bool:
    """Whether the allow-list (TENURE_OUTBOUND_ALLOW unless given) lets `host:port` through."""
    text = os.environ.get(ALLOW_ENV, "") if allow is None else allow
    return any(
        _same_host(entry, host.lower()) and (entry_port in (None, port))
        for entry, entry_port in _allow_list(text)
    )


def check_url(url: str) -> Target:
    """The URL's target if it may be requested as far as can be told without resolving it: http
    or https, a host, and not a refused address written as a number (a name is resolved and
    checked when the request is made, as its DNS answer can change)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in SCHEMES:
        raise OutboundError("refused: only http and https URLs")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise OutboundError("refused: invalid port") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise OutboundError("refused: no host")
    target = Target(parts, host, port, allowed(host, port))
    address = literal_address(host)
    if address is not None and not target.allowed:
        reason = refusal(address)
        if reason:
            raise OutboundError(f"refused: {reason}")
    return target


def resolve(target: Target) -> Address:
    """The address to connect to: every address the host resolves to must be public (unless the
    host is allow-listed); the first one is used."""
    literal = literal_address(target.host)
    if literal is not None:
        found = [literal]
    else:
        try:
            answers = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            log.warning("outbound: cannot resolve %s: %s", target.host, exc)
            raise OutboundError("failed: name not resolved") from None
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in answers]
    if not found:
        raise OutboundError("failed: name not resolved")
    if not target.allowed:
        for address in found:
            reason = refusal(address)
            if reason:
                log.warning("outbound: %s resolves to %s (%s)", target.host, address, reason)
                raise OutboundError(f"refused: {reason}")
    return found[0]


def _pinned(target: Target, address: Address) -> str:
    """The URL with its host replaced by the checked address."""
    host = f"[{address}]" if address.version == 6 else str(address)
    path = target.parts.path or "/"
    return urlunsplit((target.parts.scheme, f"{host}:{target.port}", path, target.parts.query, ""))


def post(url: str, *, content: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST `content` to `url` through the checks above; return the 2xx status, else raise
    OutboundError with the status class."""
    target = check_url(url)
    address = resolve(target)
    default = 443 if target.parts.scheme.lower() == "https" else 80
    host_header = target.parts.hostname or target.host
    if ":" in host_header:
        host_header = f"[{host_header}]"
    if target.port != default:
        host_header = f"{host_header}:{target.port}"
    request_headers = {**headers, "host": host_header}
    try:
        # No proxies from the environment (they would connect to the name, unchecked), no
        # redirects, no connection reused across requests.
        with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout) as client:
            request = client.build_request(
                "POST",
                _pinned(target, address),
                content=content,
                headers=request_headers,
                extensions={"sni_hostname": target.host},
            )
            response = client.send(request, stream=True)  # the body is never read
            response.close()
    except httpx.TimeoutException as exc:
        log.warning("outbound: %s timed out: %s", target.host, exc)
        raise OutboundError("failed: timeout") from None
    except httpx.HTTPError as exc:
        log.warning("outbound: %s failed: %s", target.host, exc)
        raise OutboundError("failed: connection error") from None
    status = response.status_code
    if 300 <= status < 400:
        raise OutboundError(f"failed: redirect not followed (HTTP {status})")
    if status >= 400:
        raise OutboundError(f"failed: HTTP {status // 100}xx")
    if status < 200:
        raise OutboundError("failed: unexpected answer")
    return status
