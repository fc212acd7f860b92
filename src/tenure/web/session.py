"""Browser sessions: after a login with an API key, a cookie carrying the key's id signed with
HMAC-SHA256 (HttpOnly, SameSite=Strict); writes made with it also need the CSRF token of a second
cookie echoed in the X-CSRF-Token header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select

from tenure.app.store import ApiKey, Store, secret

COOKIE = "tenure_session"
CSRF_COOKIE = "tenure_csrf"


def _sign(store: Store, text: str) -> str:
    digest = hmac.new(secret(store, "session_secret"), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(store: Store, key: ApiKey) -> str:
    return f"{key.id}.{_sign(store, str(key.id))}"


def resolve(store: Store, cookie: str | None) -> ApiKey | None:
    """The active key a session cookie stands for, or None."""
    if not cookie or "." not in cookie:
        return None
    number, signature = cookie.split(".", 1)
    if not number.isdigit() or not hmac.compare_digest(signature, _sign(store, number)):
        return None
    with store.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.id == int(number)))
        if key is None or key.revoked_at is not None:
            return None
        session.expunge(key)
        return key


def new_csrf() -> str:
    return secrets.token_urlsafe(24)
