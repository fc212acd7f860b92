"""A request of a shape seen before runs its compiled SQL again, after loads too, and gives
what building it anew gives; a change of columns or of a choice the data made rebuilds it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import tenure
from tenure.live import LiveWorkspace
from tenure.metrics import compiled, compute, rollups
from tenure.metrics.catalog import CATALOG
from tenure.workspace import Workspace
from tests.books import day, load_book, sub

END = dt.date(2025, 6, 1)


@pytest.fixture
def ws() -> Iterator[Workspace]:
    with tenure.connect("duckdb://") as workspace:
        load_book(
            workspace,
            [sub("a", 100, "2025-01-03"), sub("b", 50, "2025-02-10", "2025-04-20")],
            accounts={"a": {"owner": "ann"}, "b": {"owner": "bo"}},
            users=[{"user_id": "u1", "account_id": "a", "created_at": day("2025-01-03")}],
        )
        workspace.load(
            "events",
            pd.DataFrame(
                {
                    "event_id": ["e1", "e2"],
                    "occurred_at": [day("2025-03-04 10:00"), day("2025-05-06 11:00")],
                    "name": ["page_view", "feature_used"],
                    "account_id": ["a", "a"],
                    "user_id": ["u1", "u1"],
                    "feature": [None, "reports"],
                    "page": ["/home", None],
                }
            ),
        )
        yield workspace


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the expressions built for metric requests, from an empty cache (the process's
    cache may hold the same shapes from another test's store)."""
    compiled.SHARED.clear()
    built: list[int] = []
    original = compute._wide

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(compute, "_wide", counted)
    return built


def _fresh(ws: Workspace, names: list[str], **options: object) -> pd.DataFrame:
    ws.compiled.clear()
    return ws.metrics(names, end=END, **options)  # type: ignore[arg-type]


def test_every_metric_from_the_compiled_sql_after_a_load_equals_a_new_build(
    ws: Workspace, builds: list[int]
) -> None:
    names = list(CATALOG)
    options_tried = ({"by": ["owner"], "where": "owner != 'bo'"}, {"grain": "week"})
    for n, options in enumerate(options_tried):
        ws.metrics(names, end=END, **options)  # type: ignore[arg-type]
        assert len(builds) == 1
        # New rows (one more subscription), the same columns: the data version moves.
        ws.load("subscriptions", pd.DataFrame([sub("a", 30, "2025-03-01") | _sub_defaults(n)]))
        again = ws.metrics(names, end=END, **options)  # type: ignore[arg-type]
        assert len(builds) == 1, "the compiled SQL was not reused"
        pd.testing.assert_frame_equal(again, _fresh(ws, names, **options))
        assert len(builds) == 2
        builds.clear()
    mrr = ws.metrics(["mrr"], end=END).set_index("period_start")["value"]
    assert mrr[dt.date(2025, 3, 1)] == 210  # 100 + 50 + the two 30s loaded between runs


def _sub_defaults(n: int = 0) -> dict[str, object]:
    return {
        "subscription_id": f"T{n}",
        "plan": "pro",
        "billing_period": 1,
        "billing_unit": "month",
        "quantity": 1,
        "discount": 0,
        "currency": "USD",
    }


def test_another_store_of_the_same_columns_runs_the_sql_on_its_own_rows(
    ws: Workspace, builds: list[int]
) -> None:
    first = ws.metrics(["mrr", "customers"], end=END, by=["owner"])
    with tenure.connect("duckdb://") as other:
        load_book(
            other,
            [sub("a", 70, "2025-01-03"), sub("c", 20, "2025-03-01")],
            accounts={"a": {"owner": "cy"}, "c": {"owner": "cy"}},
            users=[{"user_id": "u1", "account_id": "a", "created_at": day("2025-01-03")}],
        )
        theirs = other.metrics(["mrr", "customers"], end=END, by=["owner"])
        assert len(builds) == 1, "the compiled SQL was not reused on the other store"
        assert set(theirs["owner"]) == {"cy"} and set(first["owner"]) == {"ann", "bo"}
        pd.testing.assert_frame_equal(theirs, _fresh(other, ["mrr", "customers"], by=["owner"]))


def test_a_new_attribute_column_rebuilds(ws: Workspace, builds: list[int]) -> None:
    ws.metrics(["mrr"], end=END, by=["owner"])
    ws.load(
        "accounts",
        pd.DataFrame(
            [{"account_id": "a", "name": "A", "created_at": day("2020-01-01"), "tier": "gold"}]
        ),
    )
    owners = ws.metrics(["mrr"], end=END, by=["owner"])
    assert len(builds) == 2  # the accounts table it reads has a column more: a new expression
    pd.testing.assert_frame_equal(owners, _fresh(ws, ["mrr"], by=["owner"]))
    split = ws.metrics(["mrr"], end=END, by=["tier"])
    assert set(split["tier"].dropna()) == {"gold"}


def test_an_attribute_history_rebuilds_the_split_by_it(ws: Workspace, builds: list[int]) -> None:
    before = ws.metrics(["mrr"], end=END, by=["owner"])
    assert len(builds) == 1
    # The owner of a changes in April: the split reads the owner in force in each month.
    moved = {"account_id": "a", "name": "A", "created_at": day("2020-01-01"), "owner": "cy"}
    ws.load("accounts", pd.DataFrame([moved | {"valid_from": day("2025-04-10")}]))
    after = ws.metrics(["mrr"], end=END, by=["owner"])
    assert len(builds) == 2, "a choice the data made (the owner has a history) changed"
    pd.testing.assert_frame_equal(after, _fresh(ws, ["mrr"], by=["owner"]))

    def may(frame: pd.DataFrame) -> dict[str, object]:
        month = frame[frame.period_start == dt.date(2025, 5, 1)]
        return dict(zip(month.owner, month.value, strict=True))

    assert may(before)["ann"] == 100
    assert may(after)["cy"] == 100 and may(after).get("ann") in (None, 0)
    assert not before.equals(after)


def test_a_rollup_that_stops_being_current_rebuilds_from_the_events(
    ws: Workspace, builds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["dau", "page_views", "feature_users"]
    first = ws.metrics(names, end=END)
    assert len(builds) == 1
    ws.metrics(names, end=END)
    assert len(builds) == 1
    # As on a read-only reader after a load: the rollups no longer match and cannot be rebuilt.
    monkeypatch.setattr(rollups, "refresh", lambda tables, which: [])
    monkeypatch.setattr(rollups, "_matches", lambda tables, rollup, definitions: False)
    from_events = ws.metrics(names, end=END)
    assert len(builds) == 2
    pd.testing.assert_frame_equal(first, from_events)


def test_a_live_servers_new_readers_reuse_the_sql_after_a_write(
    tmp_path: Path, builds: list[int]
) -> None:
    live = LiveWorkspace.open(f"duckdb:///{tmp_path / 'live.duckdb'}")
    try:
        with live.writer() as ws:
            load_book(ws, [sub("a", 100, "2025-01-03")], accounts={"a": {"owner": "ann"}})
        names = ["mrr", "customers", "dau"]  # dau: the calendar and a rollup on each cursor
        with live.reader() as ws:
            first = ws.metrics(names, end=END, by=["owner"])
        with live.writer() as ws:
            ws.load("subscriptions", pd.DataFrame([sub("a", 30, "2025-03-01") | _sub_defaults()]))
        with live.reader() as ws:  # a new cursor: the data version moved
            again = ws.metrics(names, end=END, by=["owner"])
            assert len(builds) == 1
            pd.testing.assert_frame_equal(again, _fresh(ws, names, by=["owner"]))
        march = again[(again.metric == "mrr") & (again.period_start == dt.date(2025, 3, 1))]
        assert march["value"].tolist() == [130] and not first.equals(again)
    finally:
        live.close()
