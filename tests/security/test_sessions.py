"""Finding 4: the session cookie was the same value for a key on every login and kept working
after logout; the app database was created 0644 and held the session secret, so anyone who
could read it forged an admin cookie. Sessions are now server-side, end at logout, expiry and
key revocation; secrets live in a 0600 file; cookies are HttpOnly, SameSite=Lax, Secure over
https; failed logins are throttled per client."""

from __future__ import annotations

import datetime as dt
import stat
import warnings
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tenure.api.app import create_app
from tenure.app import auth
from tenure.app.keys import create_key, revoke_key
from tenure.app.secret_store import ENV_KEY
from tenure.app.store import AppSetting, SessionRecord, Store, now, secret
from tenure.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _client(ws: Workspace, store: Store, base_url: str = "http://testserver") -> TestClient:
    return TestClient(create_app(ws, store), base_url=base_url, follow_redirects=False)


def _login(client: TestClient, key: str) -> str:
    answer = client.post("/login", data={"api_key": key})
    assert answer.status_code == 303, answer.text
    cookie = answer.cookies[auth.COOKIE]
    client.cookies.clear()
    return cookie


def _works(client: TestClient, cookie: str) -> bool:
    client.cookies.set(auth.COOKIE, cookie)
    status = client.get("/api/goals").status_code
    client.cookies.clear()
    assert status in (200, 401)
    return status == 200


def test_each_login_is_its_own_session_and_logout_ends_it(ws: Workspace, store: Store) -> None:
    client = _client(ws, store)
    key = create_key(store, "cs", "admin")
    first, second = _login(client, key), _login(client, key)
    assert first != second
    assert _works(client, first) and _works(client, second)
    client.cookies.set(auth.COOKIE, first)
    assert client.get("/logout").status_code == 303
    client.cookies.clear()
    assert not _works(client, first)  # the copied cookie is dead on the server
    assert _works(client, second)  # the other session goes on


def test_revoking_the_key_ends_its_sessions(ws: Workspace, store: Store) -> None:
    client = _client(ws, store)
    cookie = _login(client, create_key(store, "leaver", "editor"))
    assert _works(client, cookie)
    assert revoke_key(store, "leaver") == 1
    assert not _works(client, cookie)
    with store.session() as session:
        assert session.scalar(select(SessionRecord.revoked_at)) is not None


def test_a_key_revoked_through_another_store_is_refused_at_once(
    ws: Workspace, store: Store
) -> None:
    """A key's record is reused until the app store changes; a revocation in the process is
    such a change, even through another Store on the same database (a CLI command run by the
    server)."""
    client = _client(ws, store)
    bearer = {"Authorization": f"Bearer {create_key(store, 'temp', 'viewer')}"}
    assert client.get("/api/goals", headers=bearer).status_code == 200
    assert client.get("/api/goals", headers=bearer).status_code == 200  # from memory
    other = Store(store.url)
    try:
        assert revoke_key(other, "temp") == 1
    finally:
        other.dispose()
    assert client.get("/api/goals", headers=bearer).status_code == 401


def test_an_expired_session_is_refused(ws: Workspace, store: Store) -> None:
    client = _client(ws, store)
    cookie = _login(client, create_key(store, "cs", "viewer"))
    with store.session() as session:
        session.execute(update(SessionRecord).values(expires_at=now() - dt.timedelta(seconds=1)))
    assert not _works(client, cookie)


def test_cookies_are_httponly_lax_and_secure_over_https(ws: Workspace, store: Store) -> None:
    key = create_key(store, "cs", "viewer")
    plain = _client(ws, store).post("/login", data={"api_key": key})
    session_cookie = next(
        c for c in plain.headers.get_list("set-cookie") if c.startswith(auth.COOKIE + "=")
    ).lower()
    assert "httponly" in session_cookie and "samesite=lax" in session_cookie
    assert "secure" not in session_cookie
    over_https = _client(ws, store, "https://testserver").post("/login", data={"api_key": key})
    cookies = over_https.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("secure" in c.lower() for c in cookies)


def test_the_secret_lives_in_a_private_file_not_in_the_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    store = Store(f"sqlite:///{path}")
    signing = secret(store, "session_secret")
    secrets_file = tmp_path / "app.db.secrets"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert signing.hex() not in path.read_bytes().decode("latin-1")
    with store.session() as session:
        assert session.scalars(select(AppSetting)).all() == []
    store.dispose()
    again = Store(f"sqlite:///{path}")
    assert secret(again, "session_secret") == signing  # the same secret on the next start
    again.dispose()


def test_secrets_an_older_version_stored_move_out_of_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    store = Store(url)
    with store.session() as session:  # as an older version wrote them
        session.add(AppSetting(key="survey_secret", value="ab" * 32))
        session.add(AppSetting(key="session_secret", value="cd" * 32))
    store.dispose()
    upgraded = Store(url)
    assert secret(upgraded, "survey_secret") == bytes.fromhex("ab" * 32)  # links stay valid
    with upgraded.session() as session:
        assert session.scalars(select(AppSetting)).all() == []
    upgraded.dispose()


def test_the_secret_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEY, "a long random value shared by the servers")
    one, two = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    assert secret(one, "session_secret") == secret(two, "session_secret")
    assert secret(one, "session_secret") != secret(one, "survey_secret")
    assert not list(tmp_path.glob("*.secrets"))
    one.dispose()
    two.dispose()


def test_failed_logins_are_throttled_per_client(ws: Workspace, store: Store) -> None:
    client = _client(ws, store)
    key = create_key(store, "cs", "viewer")
    for _ in range(10):
        assert client.post("/login", data={"api_key": "tk_guess"}).status_code == 401
    refused = client.post("/login", data={"api_key": key})  # even the right key, for a while
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    throttle: auth.LoginThrottle = client.app.state.login_throttle  # type: ignore[attr-defined]
    assert throttle.retry_after("another.client") is None
