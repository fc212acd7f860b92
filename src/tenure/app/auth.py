"""Who is calling: an API key (Bearer or X-API-Key), or a dashboard session. After a login with an
API key the browser holds a cookie carrying the key's id, signed and timestamped with
itsdangerous (HttpOnly, SameSite=Strict, valid for SESSION_SECONDS); writes made with it also need
the CSRF token of a second cookie echoed in the X-CSRF-Token header."""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from tenure.app import keys
from tenure.app.store import ApiKey, Store, secret

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


def issue(store: Store, key: ApiKey) -> str:
    """A session cookie value for `key`, stamped with the time it was issued."""
    return str(_serializer(store).dumps(key.id))


def resolve(store: Store, cookie: str | None, *, max_age: int = SESSION_SECONDS) -> ApiKey | None:
    """The active key a session cookie stands for, or None if it is missing, tampered with,
    older than `max_age` seconds, or its key was revoked."""
    if not cookie:
        return None
    try:
        number = _serializer(store).loads(cookie, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(number, int):
        return None
    with store.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.id == number))
        if key is None or key.revoked_at is not None:
            return None
        session.expunge(key)
        return key


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
