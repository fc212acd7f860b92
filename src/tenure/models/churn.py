"""Churn prediction: the probability that an account paying today stops paying within N days.

Trained on the company's own history: one example per account paying at each monthly cut-off,
with point-in-time features (account_features: only facts dated before the cut-off) and the
label "not paying N days later". The split is by time: the last quarter of the cut-offs whose
outcome is known is held out; of the rest, the latest two cut-offs calibrate the probabilities
(Platt scaling) and the earlier ones fit gradient-boosted trees (scikit-learn). The held-out
window reports ROC AUC, PR AUC and the lift of the top decile, for the model and for two
baselines on the same examples: the health score alone and days since last activity. The
production model is then refitted on every labelled cut-off but the calibration ones; an
account's drivers are the features whose values raise its risk most (the drop in probability
when each is set to its typical value).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tenure.errors import ModelError
from tenure.metrics.account_features import FEATURES, account_features
from tenure.metrics.tables import Tables
from tenure.models.health import HealthModel, score_features, segments_of


@dataclass
class ChurnModel:
    """A gradient-boosted tree ensemble on the point-in-time features (missing values are
    handled by the trees), Platt-calibrated, with the training medians for drivers."""

    horizon_days: int
    estimator: Any
    medians: dict[str, float]
    calibration: tuple[float, float] = (1.0, 0.0)  # sigmoid(a * logit + b)
    report: dict[str, Any] = field(default_factory=dict)

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.estimator.predict_proba(frame[list(FEATURES)])[:, 1]
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.asarray(np.log(p / (1 - p)))

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        a, b = self.calibration
        return np.asarray(1 / (1 + np.exp(-(a * self._raw(frame) + b))))

    def drivers(self, frame: pd.DataFrame, top: int = 3) -> list[str]:
        """The features whose value raises the account's risk most: the drop in probability
        when each is set to its training median, one at a time."""
        return self._explain(frame, top)[1]

    def _explain(self, frame: pd.DataFrame, top: int) -> tuple[np.ndarray, list[str]]:
        base = self.probability(frame)
        drops = []
        for name in FEATURES:
            typical = frame.copy()
            typical[name] = self.medians[name]
            drops.append(base - self.probability(typical))
        matrix = np.stack(drops, axis=1)
        result = []
        for row in matrix:
            order = np.argsort(-row, kind="stable")
            result.append(", ".join(FEATURES[j] for j in order[:top] if row[j] > 0.005))
        return base, result

    def explain(self, frame: pd.DataFrame, top: int = 3) -> tuple[np.ndarray, list[str]]:
        """Each row's probability and drivers. Rows whose features this model explained before
        are not scored again: the account snapshot explains every account after every load,
        and a load changes the features of the accounts it touches only."""
        values = frame[list(FEATURES)].reset_index(drop=True)
        rows = pd.util.hash_pandas_object(values, index=False).tolist()
        with _explaining:  # the snapshot job and a request may explain at once
            known = self.__dict__.setdefault("_explained", {})
            new, seen = [], set()
            for i, row in enumerate(rows):
                if (row, top) not in known and row not in seen:
                    seen.add(row)
                    new.append(i)
            if new:
                if len(known) + len(new) > EXPLAINED_KEPT:
                    known.clear()
                probabilities, drivers = self._explain(values.iloc[new], top)
                for i, p, d in zip(new, probabilities, drivers, strict=True):
                    known[(rows[i], top)] = (float(p), d)
            found = [known[(row, top)] for row in rows]
        return np.array([p for p, _ in found], dtype=float), [d for _, d in found]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_explained", None)  # a memory of this process, not part of the model
        return state

    def dumps(self) -> bytes:
        return pickle.dumps(self)

    @staticmethod
    def loads(blob: bytes) -> ChurnModel:
        model = pickle.loads(blob)
        if not isinstance(model, ChurnModel):
            raise ModelError("the stored churn model is not a Tenure churn model; train it again")
        return model


EXPLAINED_KEPT = 1_000_000  # rows of features a model remembers having explained
_explaining = threading.Lock()
_loaded: dict[bytes, ChurnModel] = {}  # the stored model by its blob's digest


def stored(tables: Tables) -> ChurnModel:
    """The workspace's stored churn model (ModelError when none was trained), the same object
    while the stored model is unchanged, so that it remembers what it explained. Noted as read,
    so that a cached answer scored with it is renewed when the model is trained again."""
    from tenure.models import store

    tables.note_read(store.MODELS_TABLE)
    blob, _ = store.load(tables.duckdb, "churn")
    digest = hashlib.sha256(blob).digest()
    model = _loaded.get(digest)
    if model is None:
        model = ChurnModel.loads(blob)
        _loaded.clear()
        _loaded[digest] = model
    return model


def _fit(frame: pd.DataFrame, horizon_days: int) -> ChurnModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = frame["churned"].to_numpy(dtype=int)
    if y.sum() < 5 or (1 - y).sum() < 5:
        raise ModelError(
            f"too few churned accounts to learn from ({int(y.sum())} of {len(y)} examples); "
            "churn prediction needs at least 5 churners in the training window"
        )
    estimator = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=0
    ).fit(frame[list(FEATURES)], y)
    medians = {n: float(frame[n].median()) for n in FEATURES}
    return ChurnModel(
        horizon_days, estimator, {k: (0.0 if v != v else v) for k, v in medians.items()}
    )


def _platt(model: ChurnModel, frame: pd.DataFrame) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    y = frame["churned"].to_numpy(dtype=int)
    if len(set(y)) < 2:
        return (1.0, 0.0)
    fitted = LogisticRegression(C=1e6, max_iter=2000).fit(model._raw(frame).reshape(-1, 1), y)
    return (float(fitted.coef_[0][0]), float(fitted.intercept_[0]))


def evaluation(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), top-decile lift and the base rate."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    order = np.argsort(-score, kind="stable")
    top = order[: max(1, len(order) // 10)]
    base = float(y.mean())
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "top_decile_lift": float(y[top].mean() / base) if base else float("nan"),
        "churn_rate": base,
        "examples": float(len(y)),
    }


def monthly_cutoffs(first: dt.date, last: dt.date) -> list[dt.date]:
    days, current = [], dt.date(first.year, first.month, 1)
    while current <= last:
        days.append(current)
        current = dt.date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return days


def _data_end(tables: Tables) -> dt.date:
    ends = []
    for name, column in (
        ("events", "occurred_at"),
        ("subscriptions", "started_at"),
        ("orders", "ordered_at"),
    ):
        value = tables.table(name)[column].max().execute()
        if value is not None and not pd.isna(value):
            ends.append(pd.Timestamp(value).date())
    if not ends:
        raise ModelError("no data: load subscriptions and events before training churn prediction")
    return max(ends)


def train(
    tables: Tables,
    *,
    horizon_days: int = 90,
    as_of: dt.date | None = None,
    health: HealthModel | None = None,
) -> ChurnModel:
    """Fit, evaluate on the held-out window, refit on everything labelled, and return the model
    with its report (held-out metrics of the model and of both baselines)."""
    end = as_of or _data_end(tables)
    first = tables.table("subscriptions").started_at.min().execute()
    if first is None or pd.isna(first):
        raise ModelError("no subscriptions: churn prediction needs the history of who paid when")
    start = pd.Timestamp(first).date() + dt.timedelta(days=180)
    last = end - dt.timedelta(days=horizon_days)
    cutoffs = monthly_cutoffs(start, last)
    if len(cutoffs) < 6:
        raise ModelError(
            f"{len(cutoffs)} monthly cut-offs between {start} and {last}: churn prediction needs "
            "at least six months of history beyond the first six and the horizon"
        )
    frame = account_features(tables, cutoffs, horizon_days=horizon_days, known_until=end)
    frame = frame[frame["churned"].notna()].reset_index(drop=True)
    held = cutoffs[-max(2, len(cutoffs) // 4) :]
    calibrate = cutoffs[-len(held) - 2 : -len(held)]
    train_rows = frame[~frame["cutoff"].isin(held + calibrate)]
    model = _fit(train_rows, horizon_days)
    model.calibration = _platt(model, frame[frame["cutoff"].isin(calibrate)])
    test = frame[frame["cutoff"].isin(held)].reset_index(drop=True)
    y = test["churned"].to_numpy(dtype=int)
    if y.sum() == 0 or y.sum() == len(y):
        raise ModelError(
            "the held-out window has no churner (or only churners): nothing to evaluate"
        )
    health = health or HealthModel.load()
    scores = score_features(health, test, segments_of(tables, health, test["account_id"]))
    probability = model.probability(test)
    report = {
        "horizon_days": horizon_days,
        "trained_on": f"{cutoffs[0]} to {train_rows['cutoff'].max()} ({len(train_rows)} examples)",
        "calibrated_on": f"{calibrate[0]} to {calibrate[-1]}",
        "held_out": f"{held[0]} to {held[-1]}",
        "model": evaluation(y, probability),
        "health_score": evaluation(y, -scores["health"].to_numpy(dtype=float)),
        "recency": evaluation(y, test["days_since_active"].fillna(1e6).to_numpy(dtype=float)),
        "brier": float(np.mean((probability - y) ** 2)),
        "mean_predicted": float(probability.mean()),
    }
    final = _fit(frame[~frame["cutoff"].isin(calibrate)], horizon_days)
    final.calibration = _platt(final, frame[frame["cutoff"].isin(calibrate)])
    final.report = report
    return final


def score(tables: Tables, model: ChurnModel, *, as_of: dt.date | None = None) -> pd.DataFrame:
    """Churn probability and drivers of every account paying on `as_of` (default today)."""
    day = as_of or dt.date.today()
    features = account_features(tables, [day])
    result = features[["account_id"]].copy()
    probability, drivers = model.explain(features)
    result["churn_probability"] = probability
    result["drivers"] = drivers
    result["mrr"] = features["mrr"]
    return result.sort_values(
        ["churn_probability", "account_id"], ascending=[False, True]
    ).reset_index(drop=True)
