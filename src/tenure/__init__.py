"""Tenure: customer-success metrics computed exactly from your own data.

import tenure
ws = tenure.connect("duckdb:///tenure.duckdb")
ws.load("accounts", "accounts.csv")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenure.errors import TenureError

if TYPE_CHECKING:
    from tenure.workspace import Workspace, connect

__all__ = ["TenureError", "Workspace", "connect"]
__version__ = "0.1.0"

# Loaded on first use (PEP 562): the workspace pulls in pandas and Ibis, which `tenure --help`
# and the other light entry points must not pay for.
_LAZY = {"Workspace": "tenure.workspace", "connect": "tenure.workspace"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
