"""Where the application's signing secrets live: never in its database (anyone who can read that
file could forge a session or a survey link), but in a file readable by its owner only, beside
the app store, or in the environment.

- TENURE_SECRET_KEY set: every secret is derived from it (HMAC-SHA256 of the secret's name);
  servers sharing a database share this value.
- else TENURE_SECRET_FILE, or for a SQLite store the file `<app db>.secrets` beside it, or for
  another database `~/.config/tenure/secrets-<hash of its URL>.json`: a JSON file created 0600
  holding a random master key (secrets are derived from it) and any secret an older version kept
  in the database, moved here so survey links and webhook signatures stay valid.
- an in-memory SQLite store keeps its secrets in memory."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from tenure.errors import TenureError

ENV_KEY = "TENURE_SECRET_KEY"
ENV_FILE = "TENURE_SECRET_FILE"
log = logging.getLogger(__name__)


class Secrets:
    """Named 32-byte secrets from one master key and the legacy values adopted beside it."""

    def __init__(self, path: Path | None = None, *, key: bytes | None = None) -> None:
        self.path = path
        self._key = key
        self._values: dict[str, str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_store(cls, url: str) -> Secrets:
        """The secrets of the app store at `url` (see the module docstring for where)."""
        from_env = os.environ.get(ENV_KEY)
        if from_env:
            return cls(key=from_env.encode())
        if os.environ.get(ENV_FILE):
            return cls(Path(os.environ[ENV_FILE]))
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = str(parsed.database or "")
            if database in ("", ":memory:") or database.startswith("file:"):
                return cls()
            return cls(Path(database).with_name(Path(database).name + ".secrets"))
        shown = parsed.render_as_string(hide_password=True)
        digest = hashlib.sha256(shown.encode()).hexdigest()[:16]
        return cls(Path.home() / ".config" / "tenure" / f"secrets-{digest}.json")

    def get(self, name: str) -> bytes:
        """The secret `name`: an adopted legacy value, else derived from the master key."""
        if self._key is not None:
            return hmac.new(self._key, name.encode(), hashlib.sha256).digest()
        values = self._load()
        if name in values:
            return bytes.fromhex(values[name])
        return hmac.new(bytes.fromhex(values["master"]), name.encode(), hashlib.sha256).digest()

    def adopt(self, legacy: dict[str, str]) -> None:
        """Keep secrets an older version stored in the database (hex), unless already kept."""
        if self._key is not None:
            log.warning(
                "%s is set: the secrets %s found in the app database are dropped; survey links "
                "and webhook signatures made with them no longer verify",
                ENV_KEY,
                ", ".join(sorted(legacy)),
            )
            return
        values = self._load()
        merged = {**legacy, **values}
        if merged != values:
            self._write(merged)

    # -- credentials of data sources (kept as given, read fresh: another process may add one) --
    def keep(self, name: str, value: str) -> None:
        """Keep a credential (an API key of a data source) under `name` in the secrets file."""
        if self._key is not None:
            raise TenureError(
                f"{ENV_KEY} is set, so there is no secrets file to keep a credential in; "
                "give it through an environment variable instead"
            )
        if self.path is None:
            self._load()[name] = value
            return
        self._write({**self._fresh(), name: value})

    def kept(self, name: str) -> str | None:
        """The credential kept under `name`, or None."""
        if self._key is not None:
            return None
        return (self._fresh() if self.path is not None else self._load()).get(name)

    def discard(self, name: str) -> None:
        """Forget the credential kept under `name`, if any."""
        if self._key is not None:
            return
        if self.path is None:
            self._load().pop(name, None)
            return
        values = self._fresh()
        if name in values:
            del values[name]
            self._write(values)

    def _fresh(self) -> dict[str, str]:
        """The file as it is now (created if missing), not as this process last saw it."""
        self._load()
        with self._lock:
            self._values = self._read()
            return dict(self._values)

    def _load(self) -> dict[str, str]:
        with self._lock:
            if self._values is None:
                self._values = self._read_or_create()
            return self._values

    def _read_or_create(self) -> dict[str, str]:
        fresh = {"master": secrets.token_hex(32)}
        if self.path is None:
            return fresh
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read()
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(fresh, handle)
        return fresh

    def _read(self) -> dict[str, str]:
        assert self.path is not None
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s can be read by others (mode %o); make it 0600", self.path, mode)
        try:
            values = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TenureError(f"cannot read the secrets file {self.path}: {exc}") from None
        if not isinstance(values, dict) or not isinstance(values.get("master"), str):
            raise TenureError(f"the secrets file {self.path} has no master key")
        return {str(k): str(v) for k, v in values.items()}

    def _write(self, values: dict[str, str]) -> None:
        assert self.path is not None
        with self._lock:
            temporary = self.path.with_name(f"{self.path.name}.{secrets.token_hex(4)}.tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(values, handle)
            os.replace(temporary, self.path)
            self._values = values
