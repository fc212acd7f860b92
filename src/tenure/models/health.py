"""Customer health score: per account and day, 0-100, the weighted mean of components that each
score a point-in-time feature against thresholds or against the account's segment; red / yellow
/ green bands; the trend against 30 days earlier; and the components that pulled it down.
Defined in YAML (health_default.yaml ships), validated with errors that name the bad entry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tenure.errors import TenureError
from tenure.metrics.account_features import FEATURES, account_features
from tenure.metrics.tables import Tables

METHODS = ("thresholds", "percentile")
COMPONENT_KEYS = {"feature", "weight", "method", "thresholds", "missing", "higher_is_better"}


class HealthConfigError(TenureError):
    """A health score definition that cannot be used."""


@dataclass(frozen=True)
class Component:
    name: str
    feature: str
    weight: float
    method: str = "thresholds"
    thresholds: tuple[float, float] = (0.0, 1.0)
    missing: float = 50.0
    higher_is_better: bool = True

    def score(self, values: pd.Series, groups: pd.Series) -> np.ndarray:
        x = values.to_numpy(dtype=float)
        if self.method == "thresholds":
            low, high = self.thresholds
            scored = np.clip((x - low) / (high - low), 0, 1) * 100 + 0.0  # no -0
        else:
            ranks = (
                values.groupby(groups.to_numpy(), dropna=False).rank(pct=True).to_numpy(dtype=float)
            )
            scored = (
                ranks * 100 if self.higher_is_better else (1 - ranks) * 100 + 100 / max(len(x), 1)
            )
            scored = np.clip(scored, 0, 100)
        return np.where(np.isnan(x), self.missing, scored)


@dataclass(frozen=True)
class Segment:
    name: str
    where: str | None
    components: tuple[Component, ...]
    red: float
    yellow: float


@dataclass(frozen=True)
class HealthModel:
    segments: tuple[Segment, ...]  # the last is the default (where None)

    @classmethod
    def load(cls, path: str | Path | None = None) -> HealthModel:
        source = str(path) if path else "health_default.yaml"
        try:
            text = (
                Path(path).read_text(encoding="utf-8")
                if path
                else resources.files("tenure.models")
                .joinpath("health_default.yaml")
                .read_text(encoding="utf-8")
            )
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise HealthConfigError(f"cannot read {source}: {exc}") from None
        return cls.parse(data, source)

    @classmethod
    def parse(cls, data: Any, source: str = "health definition") -> HealthModel:
        if not isinstance(data, dict):
            raise HealthConfigError(f"{source}: expected a mapping with bands and components")
        unknown = set(data) - {"bands", "components", "segments"}
        if unknown:
            raise HealthConfigError(
                f"{source}: unknown key(s) {', '.join(sorted(unknown))}; valid: bands, components, segments"
            )
        default = _segment(source, "default", None, data.get("components"), data.get("bands"))
        segments = []
        for number, entry in enumerate(data.get("segments") or []):
            if not isinstance(entry, dict) or "where" not in entry:
                raise HealthConfigError(f"{source}: segment #{number} needs a `where` filter")
            name = str(entry.get("name", f"segment {number}"))
            components = entry.get("components", data.get("components"))
            bands = entry.get("bands", data.get("bands"))
            segments.append(_segment(source, name, str(entry["where"]), components, bands))
        return cls((*segments, default))


def _segment(source: str, name: str, where: str | None, components: Any, bands: Any) -> Segment:
    where_text = f"{source}, {name}"
    if not isinstance(components, dict) or not components:
        raise HealthConfigError(f"{where_text}: `components` must map names to definitions")
    parsed = tuple(_component(where_text, n, spec) for n, spec in components.items())
    bands = bands or {"red": 40, "yellow": 70}
    try:
        red, yellow = float(bands["red"]), float(bands["yellow"])
    except (KeyError, TypeError, ValueError):
        raise HealthConfigError(f"{where_text}: bands need numeric `red` and `yellow`") from None
    if not 0 <= red < yellow <= 100:
        raise HealthConfigError(f"{where_text}: bands must satisfy 0 <= red < yellow <= 100")
    return Segment(name, where, parsed, red, yellow)


def _component(where: str, name: str, spec: Any) -> Component:
    here = f"{where}, component {name!r}"
    if not isinstance(spec, dict):
        raise HealthConfigError(f"{here}: expected a mapping (feature, weight, ...)")
    unknown = set(spec) - COMPONENT_KEYS
    if unknown:
        raise HealthConfigError(
            f"{here}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(COMPONENT_KEYS))}"
        )
    feature = spec.get("feature")
    if feature not in FEATURES:
        raise HealthConfigError(
            f"{here}: unknown feature {feature!r}; valid: {', '.join(FEATURES)}"
        )
    method = spec.get("method", "thresholds")
    if method not in METHODS:
        raise HealthConfigError(f"{here}: method must be one of {', '.join(METHODS)}")
    try:
        weight = float(spec.get("weight", 0))
        missing = float(spec.get("missing", 50))
        thresholds = tuple(float(v) for v in spec.get("thresholds", (0, 1)))
    except (TypeError, ValueError):
        raise HealthConfigError(f"{here}: weight, missing and thresholds must be numbers") from None
    if weight <= 0:
        raise HealthConfigError(f"{here}: weight must be positive")
    if method == "thresholds" and (len(thresholds) != 2 or thresholds[0] == thresholds[1]):
        raise HealthConfigError(f"{here}: thresholds must be two different numbers [worst, best]")
    if not 0 <= missing <= 100:
        raise HealthConfigError(f"{here}: missing must be a score between 0 and 100")
    return Component(
        name,
        str(feature),
        weight,
        method,
        (thresholds[0], thresholds[1]) if len(thresholds) == 2 else (0.0, 1.0),
        missing,
        bool(spec.get("higher_is_better", True)),
    )


def score_features(
    model: HealthModel, features: pd.DataFrame, segment_of: pd.Series
) -> pd.DataFrame:
    """health, band, each component's score and the components that pulled it down, for rows of
    account_features; `segment_of` names each row's segment (index-aligned)."""
    result = features[["cutoff", "account_id"]].copy()
    health = np.full(len(features), np.nan)
    band = np.empty(len(features), dtype=object)
    pulled: list[list[str]] = [[] for _ in range(len(features))]
    component_scores: dict[str, np.ndarray] = {}
    for segment in model.segments:
        rows = (segment_of == segment.name).to_numpy()
        if not rows.any():
            continue
        part = features[rows]
        groups = part["cutoff"]
        total_weight = sum(c.weight for c in segment.components)
        weighted = np.zeros(rows.sum())
        shortfalls = []
        for c in segment.components:
            scores = c.score(part[c.feature], groups)
            component_scores.setdefault(c.name, np.full(len(features), np.nan))[rows] = scores
            weighted += c.weight * scores
            shortfalls.append((c.name, c.weight * (100 - scores) * (scores < 50)))
        value = weighted / total_weight
        health[rows] = value
        band[rows] = np.where(
            value < segment.red, "red", np.where(value < segment.yellow, "yellow", "green")
        )
        names = [n for n, _ in shortfalls]
        matrix = np.stack([s for _, s in shortfalls], axis=1)
        for i, row in zip(np.flatnonzero(rows), matrix, strict=True):
            order = np.argsort(-row, kind="stable")
            pulled[i] = [names[j] for j in order[:3] if row[j] > 0]
    result["segment"] = segment_of.to_numpy()
    result["health"] = health
    result["band"] = band
    for name, scores in component_scores.items():
        result[f"score_{name}"] = scores
    result["pulled_down_by"] = [", ".join(p) for p in pulled]
    return result


def segments_of(tables: Tables, model: HealthModel, accounts: pd.Series) -> pd.Series:
    """The name of each account's segment: the first whose filter selects it, else default."""
    names = pd.Series("default", index=accounts.index, dtype=object)
    assigned = pd.Series(False, index=accounts.index)
    for segment in model.segments:
        if segment.where is None:
            continue
        from tenure.engine.filters import parse_filter

        table = tables.table("accounts")
        chosen = set(
            table.filter(parse_filter(segment.where, table))
            .select("account_id")
            .to_pandas()["account_id"]
        )
        hit = accounts.isin(chosen) & ~assigned
        names[hit] = segment.name
        assigned |= hit
    return names


def health_scores(
    tables: Tables,
    *,
    as_of: dt.date | None = None,
    model: HealthModel | None = None,
    where: str | None = None,
    trend_days: int = 30,
) -> pd.DataFrame:
    """Health of every account paying on `as_of` (default today), with its trend against
    `trend_days` earlier (NaN where the account was not paying then)."""
    model = model or HealthModel.load()
    day = as_of or dt.date.today()
    before = day - dt.timedelta(days=trend_days)
    history = health_history(tables, [before, day], model=model, where=where)
    now = history[history["cutoff"] == day].set_index("account_id")
    then = history[history["cutoff"] == before].set_index("account_id")["health"]
    position = list(now.columns).index("band") + 1
    now.insert(position, "trend", now["health"] - then.reindex(now.index))
    return now.reset_index().sort_values(["health", "account_id"]).reset_index(drop=True)


def health_history(
    tables: Tables,
    days: list[dt.date],
    *,
    model: HealthModel | None = None,
    where: str | None = None,
) -> pd.DataFrame:
    """Health of the paying accounts on each of `days`."""
    model = model or HealthModel.load()
    features = account_features(tables, days, where=where)
    if features.empty:
        return score_features(model, features, pd.Series([], dtype=object))
    segment = segments_of(tables, model, features["account_id"])
    return score_features(model, features, segment)
