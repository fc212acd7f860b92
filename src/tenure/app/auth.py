"""Who is calling: an API key (Bearer or X-API-Key), or a dashboard session. A login with an API
key opens a server-side session (table `sessions`, valid for SESSION_SECONDS): the browser holds
a cookie carrying its random token, signed and timestamped with itsdangerous (HttpOnly,
SameSite=Lax, Secure over https); logging out or revoking the key ends it. Writes made with it
also need the CSRF token of a second cookie echoed in the X-CSRF-Token header. Failed logins are
throttled per client address (`LoginThrottle`)."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import math
import secrets
import threading
import time

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update

from tenure.app import keys
from tenure.app.store import ApiKey, SessionRecord, Store, now, secret

COOKIE = "tenure_session"
CSRF_COOKIE = "tenure_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
_SALT = "tenure.session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class CsrfRefused(Exception):
    """A write from a dashboard session without the matching CSRF token."""


def _serializer(store: Store) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret(store, "session_secret"), salt=_SALT)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token(store: Store, cookie: str | None, max_age: int) -> str | None:
    if not cookie:
        return None
    try:
        token = _serializer(store).loads(cookie, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    return token if isinstance(token, str) else None


def issue(store: Store, key: ApiKey, *, seconds: int = SESSION_SECONDS) -> str:
    """Open a session for `key` lasting `seconds`; return its cookie value (a fresh random token,
    signed and stamped with the time it was issued)."""
    token = secrets.token_urlsafe(32)
    moment = now()
    with store.session() as session:
        session.add(
            SessionRecord(
                id=_hash(token),
                key_id=key.id,
                created_at=moment,
                expires_at=moment + dt.timedelta(seconds=seconds),
                last_seen_at=moment,
            )
        )
    return str(_serializer(store).dumps(token))


def resolve(store: Store, cookie: str | None, *, max_age: int = SESSION_SECONDS) -> ApiKey | None:
    """The active key a session cookie stands for, or None if it is missing, tampered with,
    signed more than `max_age` seconds ago, or its session expired or was revoked, or its key
    was revoked."""
    token = _token(store, cookie, max_age)
    if token is None:
        return None
    moment = now()
    with store.session() as session:
        found = session.execute(
            select(SessionRecord, ApiKey)
            .join(ApiKey, SessionRecord.key_id == ApiKey.id)
            .where(SessionRecord.id == _hash(token))
        ).one_or_none()
        if found is None:
            return None
        record, key = found
        if record.revoked_at is not None or record.expires_at <= moment:
            return None
        if key.revoked_at is not None:
            return None
        if moment - record.last_seen_at > dt.timedelta(minutes=1):  # not one write per request
            record.last_seen_at = moment
        session.expunge(key)
        return key


def end(store: Store, cookie: str | None) -> None:
    """Revoke the session a cookie stands for (at logout), if it is a genuine one."""
    token = _token(store, cookie, SESSION_SECONDS)
    if token is None:
        return
    with store.session() as session:
        session.execute(
            update(SessionRecord)
            .where(SessionRecord.id == _hash(token), SessionRecord.revoked_at.is_(None))
            .values(revoked_at=now())
        )


class LoginThrottle:
    """At most `attempts` failed logins per client address within `window` seconds; the next
    ones are refused until the oldest failure leaves the window. Kept in memory, per server."""

    def __init__(self, attempts: int = 10, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, moment: float) -> collections.deque[float]:
        failures = self._failures.setdefault(client, collections.deque())
        while failures and failures[0] <= moment - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None if it may try now."""
        moment = time.monotonic()
        with self._lock:
            failures = self._recent(client, moment)
            if len(failures) < self.attempts:
                if not failures:
                    self._failures.pop(client, None)
                return None
            return max(1, math.ceil(failures[0] + self.window - moment))

    def failed(self, client: str) -> None:
        moment = time.monotonic()
        with self._lock:
            self._recent(client, moment).append(moment)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def bearer(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key a request presents: X-API-Key, else `Authorization: Bearer <key>`."""
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:]
    return None


def authenticate(
    store: Store,
    *,
    method: str,
    token: str | None,
    cookies: dict[str, str],
    csrf_header: str | None,
) -> ApiKey | None:
    """The key behind a request: its API key if it sends one, else its dashboard session.
    Raises CsrfRefused for an unsafe method on a session without the echoed CSRF token."""
    if token is not None:
        return keys.check_key(store, token)
    record = resolve(store, cookies.get(COOKIE))
    if record is not None and method not in SAFE_METHODS:
        expected = cookies.get(CSRF_COOKIE)
        if not expected or not csrf_header or not hmac.compare_digest(expected, csrf_header):
            raise CsrfRefused("a write from the dashboard needs its X-CSRF-Token header")
    return record
