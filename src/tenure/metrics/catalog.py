"""The metric catalog: every metric declared once, as engine expressions over summed measures
(`tenure metrics list` prints it)."""

from __future__ import annotations

from tenure.errors import QueryError
from tenure.metrics.lifecycle import LIFECYCLE_METRICS
from tenure.metrics.metric import Context, Metric, ratio
from tenure.metrics.revenue_catalog import REVENUE_METRICS
from tenure.metrics.usage_catalog import USAGE_METRICS

__all__ = ["CATALOG", "Context", "Metric", "metric", "ratio"]

CATALOG: dict[str, Metric] = {
    m.name: m for m in (*REVENUE_METRICS, *USAGE_METRICS, *LIFECYCLE_METRICS)
}


def metric(name: str) -> Metric:
    try:
        return CATALOG[name]
    except KeyError:
        raise QueryError(f"unknown metric {name!r}; choose from: {', '.join(CATALOG)}") from None
