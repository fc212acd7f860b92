"""Connector kinds by name, imported only when asked for.

A kind is a module `tenure.sources.<kind>` exposing `build(options, secret) -> Connector`,
`OPTIONS` (option name -> one-line help), `SECRET` (which credential, one line) and `SECRET_ENV`
(the environment variable read by default). Any such module in this package is a kind; a
connector living elsewhere (a plugin, a test) joins with `register(kind, "package.module")`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from tenure.errors import TenureError
from tenure.sources.base import Connector

# Modules of this package that are the framework, not connectors.
FRAMEWORK = frozenset({"base", "staging", "sync", "registry"})
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
# The extension point: kinds whose module lives outside this package, by name.
_REGISTERED: dict[str, str] = {}


@dataclass(frozen=True)
class Kind:
    """What the registry knows of one kind of source."""

    name: str
    module: str
    build: Callable[[Mapping[str, str], str | None], Connector]
    options: Mapping[str, str]
    secret: str
    secret_env: str

    def check_options(self, options: Mapping[str, str]) -> dict[str, str]:
        """The options as strings; an option the kind does not know is an error naming it."""
        for name in options:
            if name not in self.options:
                known = ", ".join(sorted(self.options)) or "none"
                raise TenureError(f"{self.name} has no option {name!r}; its options: {known}")
        return {str(name): str(value) for name, value in options.items()}


def register(kind: str, module: str) -> None:
    """Make `kind` resolve to `module` (importable, with build/OPTIONS/SECRET/SECRET_ENV)."""
    if not _KIND.fullmatch(kind):
        raise TenureError(f"kind {kind!r}: use lowercase letters, digits and underscores")
    _REGISTERED[kind] = module


def unregister(kind: str) -> None:
    _REGISTERED.pop(kind, None)


def _candidates() -> dict[str, str]:
    """Kind name -> module path, for modules of this package and registered ones."""
    import tenure.sources as package

    found = {
        info.name: f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if info.name not in FRAMEWORK and not info.name.startswith("_")
    }
    return {**found, **_REGISTERED}


def _is_kind(module: ModuleType) -> bool:
    return all(hasattr(module, name) for name in ("build", "OPTIONS", "SECRET", "SECRET_ENV"))


def kinds() -> list[str]:
    """The kinds available here, sorted (each module is imported to check it is a connector)."""
    available = []
    for name, path in _candidates().items():
        try:
            module = importlib.import_module(path)
        except ImportError:
            continue
        if _is_kind(module):
            available.append(name)
    return sorted(available)


def resolve(kind: str) -> Kind:
    """The kind named `kind`; an unknown one is a one-line error listing those available."""
    path = _candidates().get(kind) if _KIND.fullmatch(kind) else None
    module = None
    if path is not None:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name != path:  # the module exists but something it needs is missing
                raise TenureError(f"source kind {kind!r} cannot load: {exc}") from None
    if module is None or not _is_kind(module):
        available = ", ".join(kinds()) or "none installed"
        raise TenureError(f"unknown source kind {kind!r}; available kinds: {available}")
    return Kind(
        name=kind,
        module=path or "",
        build=module.build,
        options=dict(module.OPTIONS),
        secret=str(module.SECRET),
        secret_env=str(module.SECRET_ENV),
    )
