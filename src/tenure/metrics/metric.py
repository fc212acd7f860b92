"""What a metric is: a name, a unit, a definition, and its numerator and denominator as engine
expressions over summed measures.

A metric's numerator and denominator are expressions over one row per period and segment whose
columns are the measures (sums of the per-account rows of the sources; `company_` measures are
the whole company's, for costs that carry no account). value = scale x numerator / denominator,
NULL when the denominator is 0 or NULL: an undefined ratio is never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

Expr = Callable[[ir.Table, "Context"], ir.Value]


@dataclass(frozen=True)
class Context:
    """What an expression may need besides the measures."""

    by: tuple[str, ...]  # every split: account attributes and dimensions
    months_per_period: float
    gross_margin: float


@dataclass(frozen=True)
class Metric:
    name: str
    area: str
    unit: str  # currency, percent, ratio, count, months
    description: str
    definition: str
    measures: tuple[str, ...]
    numerator: Expr
    denominator: Expr | None = None
    scale: float = 1.0
    trailing: bool = False  # reads the six periods before each one
    dimensions: tuple[str, ...] = ()  # fact columns it can be split by (page, feature, ...)

    @property
    def drill_measures(self) -> tuple[str, ...]:
        return tuple(m for m in self.measures if not m.startswith("company_"))


def ratio(numerator: ir.Value, denominator: ir.Value) -> ir.FloatingValue:
    """numerator / denominator in double precision; NULL where the denominator is 0 or NULL."""
    den = denominator.cast("float64")
    return ibis.cases(
        (den != 0, numerator.cast("float64") / den),
        else_=ibis.null("float64"),
    )


def measure(name: str) -> Expr:
    """The summed measure itself."""
    return lambda w, ctx: w[name]
