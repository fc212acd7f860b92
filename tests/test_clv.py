"""Purchase histories from the orders table, and the `tenure clv` commands end to end."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data
from typer.testing import CliRunner

import tenure
from tenure.cli import app
from tenure.workspace import Workspace
from tests.books import day, load_book, sub

runner = CliRunner()


def _orders(rows: list[tuple[str, str, float, str]]) -> list[dict]:
    return [
        {"account_id": a, "ordered_at": day(at), "amount": amount, "kind": kind}
        for a, at, amount, kind in rows
    ]


def test_histories_count_purchase_days_and_mean_repeat_spend(ws: Workspace) -> None:
    orders = _orders(
        [
            ("A", "2025-01-01T09:00:00", 10, "one_time"),
            ("A", "2025-01-01T17:00:00", 5, "one_time"),  # same day: one purchase of 15
            ("A", "2025-01-15T10:00:00", 20, "one_time"),
            ("A", "2025-02-12T10:00:00", 40, "one_time"),
            ("A", "2025-02-13T10:00:00", 40, "refund"),  # not a purchase
            ("A", "2025-03-05T10:00:00", 25, "one_time"),  # holdout
            ("B", "2025-01-29T12:00:00", 99, "one_time"),
            ("C", "2025-03-01T12:00:00", 50, "one_time"),  # first buys after calibration
        ]
    )
    load_book(ws, [], orders=orders)
    frame = ws.purchase_histories(
        dt.date(2025, 2, 25), unit="week", holdout_end=dt.date(2025, 3, 25)
    ).set_index("account_id")
    assert list(frame.index) == ["A", "B"]
    assert frame.loc["A", "frequency"] == 2
    assert frame.loc["A", "recency"] == pytest.approx(6)  # 42 days
    assert frame.loc["A", "T"] == pytest.approx(55 / 7)  # 1 January to 25 February: 55 days
    assert frame.loc["A", "monetary_value"] == pytest.approx(30)  # (20 + 40) / 2, first excluded
    assert frame.loc["A", "holdout_purchases"] == 1
    assert (frame.loc["B", "frequency"], frame.loc["B", "recency"]) == (0, 0)
    assert frame.loc["B", "T"] == pytest.approx(27 / 7)
    assert frame.loc["B", "monetary_value"] == 0


def _simulated_orders(customers: int, seed: int) -> tuple[pd.DataFrame, dt.date]:
    """BG/NBD customers (r=0.6, alpha=5 weeks, a=0.9, b=3) as an orders table, one order a
    purchase day, first purchases spread over the first 20 weeks of 2024."""
    rng = np.random.default_rng(seed)
    origin = np.datetime64("2024-01-01T12:00:00")
    first = rng.integers(0, 140, customers)
    rate = rng.gamma(0.6, 1 / 5.0, customers) / 7  # per day
    drop = rng.beta(0.9, 3.0, customers)
    rows = [(np.arange(customers), first.astype(float))]
    clock = first.astype(float)
    active = np.ones(customers, dtype=bool)
    while active.any():
        clock = clock + np.ceil(rng.exponential(1 / np.maximum(rate, 1e-9)))
        active &= clock < 500
        rows.append((np.flatnonzero(active), clock[active].copy()))
        active &= rng.random(customers) >= drop
    ids = np.concatenate([r[0] for r in rows])
    days = np.concatenate([r[1] for r in rows])
    frame = pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(len(ids))],
            "account_id": [f"C{i:05d}" for i in ids],
            "ordered_at": origin + days.astype("timedelta64[D]"),
            "amount": np.round(rng.gamma(5.0, 8.0, len(ids)), 2),
            "currency": "USD",
            "kind": "one_time",
        }
    )
    return frame, dt.date(2024, 9, 30)


@pytest.fixture(scope="module")
def clv_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('clv') / 'clv.duckdb'}"
    orders, _ = _simulated_orders(4000, seed=8)
    with tenure.connect(url) as ws:
        report = ws.load("orders", orders)
        assert report.rejected == 0
        load_book(
            ws,
            [
                sub(f"S{i:03d}", 50, f"2024-{1 + i % 3:02d}-01", end)
                for i, end in enumerate([None] * 40 + ["2024-05-10"] * 20 + ["2024-08-20"] * 10)
            ],
        )
    return url


def test_clv_fit_on_simulated_customers_recovers_the_truth(clv_db: str) -> None:
    result = runner.invoke(
        app,
        [
            "clv",
            "fit",
            "--calibration-end",
            "2024-09-30",
            "--unit",
            "week",
            "--format",
            "json",
            "--db",
            clv_db,
        ],
    )
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.output)
    params = fitted["purchase_params"]
    assert fitted["customers"] == 4000 and fitted["purchase_model"] == "bgnbd"
    assert params["r"] == pytest.approx(0.6, rel=0.2)
    assert params["alpha"] == pytest.approx(5.0, rel=0.3)
    assert fitted["purchase_log_likelihood"] < 0
    assert fitted["mean_spend_per_purchase"] == pytest.approx(40, rel=0.1)  # gamma(5, 8)


def test_clv_predict_tracks_the_holdout(clv_db: str, tmp_path: Path) -> None:
    out = tmp_path / "clv.csv"
    result = runner.invoke(
        app,
        [
            "clv",
            "predict",
            "--calibration-end",
            "2024-09-30",
            "--horizon",
            "10",
            "--format",
            "csv",
            "-o",
            str(out),
            "--db",
            clv_db,
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert len(frame) == 4000
    assert frame["p_alive"].between(0, 1).all()
    assert frame["clv"].is_monotonic_decreasing
    predicted, actual = frame["expected_purchases"].sum(), frame["holdout_purchases"].sum()
    assert predicted == pytest.approx(actual, rel=0.15)
    # Those predicted to buy most do buy more in the holdout than the rest.
    top = frame.nlargest(400, "expected_purchases")["holdout_purchases"].mean()
    assert top > 2 * frame["holdout_purchases"].mean()


def test_clv_renewals_and_errors(clv_db: str) -> None:
    result = runner.invoke(
        app,
        [
            "clv",
            "renewals",
            "--from",
            "2024-01",
            "--to",
            "2024-09",
            "--format",
            "json",
            "--db",
            clv_db,
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["accounts"] == 70 and row["cohorts"] == 3
    assert 0 < row["retention_next"] < 1 and row["derl"] > 1
    for args, message in [
        (["fit", "--calibration-end", "2020-01-01"], "no customers"),
        (["fit", "--calibration-end", "2024-09-30", "--unit", "fortnight"], "unknown time unit"),
        (["fit", "--calibration-end", "2024-09-30", "--model", "nope"], "unknown model 'nope'"),
        (["predict", "--calibration-end", "2024-09-30", "--horizon", "0"], "at least one"),
    ]:
        result = runner.invoke(app, ["clv", *args, "--db", clv_db])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def _cdnow_transactions() -> pd.DataFrame:
    """The raw CDNOW sample (6,919 purchases of 2,357 customers) shipped in the lifetimes wheel,
    read from its data folder (lifetimes.datasets needs pkg_resources)."""
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.origin is not None
    raw = pd.read_csv(
        Path(spec.origin).parent / "datasets" / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer", "id", "date", "cds", "amount"],
        dtype={"customer": str, "date": str},
    )
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(len(raw))],
            "account_id": "C" + raw["customer"],
            "ordered_at": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["amount"],
            "currency": "USD",
            "kind": "one_time",
        }
    )


CDNOW_END = dt.date(1997, 9, 30)  # 39 weeks after the first purchases (1 January 1997)


def _lifetimes_summary(orders: pd.DataFrame, end: dt.date, days_per_unit: int) -> pd.DataFrame:
    return summary_data_from_transaction_data(
        orders.assign(day=orders["ordered_at"].dt.floor("D")),
        "account_id",
        "day",
        monetary_value_col="amount",
        observation_period_end=pd.Timestamp(end),
        freq="D",
        freq_multiplier=days_per_unit,
    )


@pytest.mark.parametrize(("unit", "days_per_unit"), [("week", 7), ("day", 1)])
def test_histories_equal_lifetimes_summary_row_by_row(
    ws: Workspace, tmp_path: Path, unit: str, days_per_unit: int
) -> None:
    """The CDNOW transactions plus edge cases (same-day orders at different hours, a purchase on
    the calibration day, a customer whose first purchase is that day, purchases after it), loaded
    from a file: (x, t_x, T, mean repeat spend) equal lifetimes' summary for every customer."""
    edges = pd.DataFrame(
        {
            "order_id": ["E1", "E2", "E3", "E4", "E5", "E6", "E7"],
            "account_id": ["Xsame", "Xsame", "Xsame", "Xlast", "Xlast", "Xzero", "Xlater"],
            "ordered_at": pd.to_datetime(
                [
                    "1997-03-02 08:00",
                    "1997-03-02 21:30",
                    "1997-09-30 23:59",
                    "1997-05-01 10:00",
                    "1997-10-02 10:00",
                    "1997-09-30 00:00",
                    "1997-10-01 00:00",
                ]
            ),
            "amount": [10.0, 5.5, 20.0, 30.0, 40.0, 12.0, 99.0],
            "currency": "USD",
            "kind": "one_time",
        }
    )
    orders = pd.concat([_cdnow_transactions(), edges], ignore_index=True)
    path = tmp_path / "transactions.csv"
    orders.to_csv(path, index=False)
    assert ws.load("orders", path).rejected == 0

    ours = ws.purchase_histories(CDNOW_END, unit=unit).set_index("account_id")
    theirs = _lifetimes_summary(orders, CDNOW_END, days_per_unit)
    assert sorted(ours.index) == sorted(theirs.index)
    assert len(ours) == 2357 + 3  # Xlater first buys after the calibration end
    theirs = theirs.loc[ours.index]
    np.testing.assert_array_equal(ours["frequency"], theirs["frequency"])
    np.testing.assert_allclose(ours["recency"], theirs["recency"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["T"], theirs["T"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["monetary_value"], theirs["monetary_value"], atol=1e-9)
    assert ours.loc["Xzero", "T"] == 0 and ours.loc["Xsame", "frequency"] == 1

    # A customer first seen on the calibration day (T = 0) does not stop the fit.
    summary, predicted = ws.clv(CDNOW_END, unit=unit, horizon=10)
    assert summary["customers"] == 2360
    assert all(np.isfinite(v) and v > 0 for v in summary["purchase_params"].values())
    assert predicted is not None
    zero = predicted.set_index("account_id").loc["Xzero"]
    assert zero["p_alive"] == pytest.approx(1) and np.isfinite(zero["clv"]) and zero["clv"] > 0


def test_clv_fit_on_raw_cdnow_orders_gives_the_published_estimates(tmp_path: Path) -> None:
    """Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426 on the CDNOW sample,
    from the raw transactions loaded with `tenure load orders`."""
    path = tmp_path / "cdnow.csv"
    _cdnow_transactions().to_csv(path, index=False)
    db = f"duckdb:///{tmp_path / 'cdnow.duckdb'}"
    loaded = runner.invoke(app, ["load", "orders", str(path), "--db", db])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(
        app,
        ["clv", "fit", "--calibration-end", CDNOW_END.isoformat(), "--format", "json", "--db", db],
    )
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.output)
    params = fitted["purchase_params"]
    assert fitted["customers"] == 2357
    assert params["r"] == pytest.approx(0.243, abs=0.01)
    assert params["alpha"] == pytest.approx(4.414, abs=0.01)
    assert params["a"] == pytest.approx(0.793, abs=0.01)
    assert params["b"] == pytest.approx(2.426, abs=0.01)
