"""The `tenure` command line. Thin: every command calls the Python API and prints the result.

Heavy imports (pandas, Ibis, DuckDB) happen inside commands so that `tenure --help` stays
instant. Shared pieces (output, errors, opening stores, option types) live in `common`.
"""

from __future__ import annotations

import sys

import typer

from tenure.cli import (
    automations,
    clv,
    data,
    engagement,
    feedback,
    goals,
    health,
    metrics,
    server,
    sources,
    surveys,
)
from tenure.cli.common import Invocation

app = typer.Typer(
    name="tenure",
    cls=Invocation,
    help="Customer-success metrics computed exactly from your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Typer lists plain commands before groups, each in registration order: keep this order.
for group in (
    data,
    metrics,
    clv,
    feedback,
    health,
    server,
    goals,
    surveys,
    automations,
    sources,
    engagement,
):
    group.register(app)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


__all__ = ["app", "main"]
