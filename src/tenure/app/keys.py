"""API keys: shown once, stored as SHA-256 hashes, each with a role."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update

from tenure.app.store import ApiKey, SessionRecord, Store, now
from tenure.errors import TenureError

LADDER = ("viewer", "editor", "admin")  # each includes the ones before it
INGEST = "ingest"  # sends product events to the tracking routes, and nothing else
ROLES = (*LADDER, INGEST)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, name: str, role: str) -> str:
    if role not in ROLES:
        raise TenureError(f"unknown role {role!r}; choose from: {', '.join(ROLES)}")
    key = "tk_" + secrets.token_urlsafe(32)
    with store.session() as session:
        session.add(ApiKey(name=name, role=role, key_hash=_hash(key)))
    return key


def check_key(store: Store, key: str | None) -> ApiKey | None:
    """The active key record for `key`, or None: looked up again after the app store changed
    (a revocation among others), see `Store.cached`."""
    if not key:
        return None
    digest = _hash(key)

    def lookup() -> ApiKey | None:
        with store.session() as session:
            record = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if record is None or record.revoked_at is not None:
                return None
            session.expunge(record)
            return record

    return store.cached(("api key", digest), lookup)


def recalled_key(store: Store, key: str) -> tuple[bool, ApiKey | None]:
    """What `check_key` would answer, when the answer is in memory: (True, the record or None);
    (False, None) when the store must be read."""
    known, record = store.recall(("api key", _hash(key)))
    return known, record


def allows(role: str, needed: str) -> bool:
    """Whether a key of `role` may do what needs `needed`: the ladder's roles include those below
    them; ingestion is open to the ingest role and to editors and admins, and is all an ingest
    key may do."""
    if needed == INGEST:
        return role in (INGEST, "editor", "admin")
    if role not in LADDER or needed not in LADDER:
        return False
    return LADDER.index(role) >= LADDER.index(needed)


def revoke_key(store: Store, name: str) -> int:
    """Revoke the active keys named `name` and end their dashboard sessions; return how many."""
    with store.session() as session:
        records = session.scalars(
            select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        ).all()
        moment = now()
        for record in records:
            record.revoked_at = moment
        session.execute(
            update(SessionRecord)
            .where(
                SessionRecord.key_id.in_([r.id for r in records]),
                SessionRecord.revoked_at.is_(None),
            )
            .values(revoked_at=moment)
        )
    return len(records)
