"""The sync runner: pages staged with their cursor, resumable after a crash, idempotent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import pandas as pd
import pytest

import tenure
from tenure.sources import staging, sync
from tenure.sources.base import Connector, Page, Record

CRM = [{"id": f"c{i}", "name": f"Company {i}", "updated": i} for i in range(1, 8)]


class Crm(Connector):
    """A source of companies, three to a page, resumable by the `updated` counter."""

    kind = "crm"
    streams = ("companies",)

    def __init__(self, companies: list[Record], fail_after_pages: int | None = None) -> None:
        self.companies = companies
        self.fail_after_pages = fail_after_pages

    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        newer = [c for c in self.companies if cursor is None or c["updated"] > int(cursor)]
        for n, start in enumerate(range(0, len(newer), 3)):
            if self.fail_after_pages is not None and n == self.fail_after_pages:
                raise ConnectionError("source went away")
            page = newer[start : start + 3]
            yield Page(stream, page, str(page[-1]["updated"]))

    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        rows = [
            {"account_id": c["id"], "name": c["name"], "created_at": "2026-01-01"}
            for c in staged["companies"]
        ]
        return {"accounts": pd.DataFrame(rows)}


@pytest.fixture
def ws(tmp_path):
    with tenure.connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as workspace:
        yield workspace


def accounts(ws) -> list[tuple[str, str]]:
    return ws.duckdb.execute("SELECT account_id, name FROM accounts ORDER BY 1").fetchall()


def test_a_sync_loads_the_transform_and_a_rerun_changes_nothing(ws):
    def writer():
        return contextlib.nullcontext(ws)

    first = sync.run(Crm(CRM), "crm", writer)
    assert first.pulled == {"companies": 7}
    assert first.loads["accounts"].inserted == 7
    assert len(accounts(ws)) == 7
    again = sync.run(Crm(CRM), "crm", writer)
    assert again.pulled == {"companies": 0}
    assert again.loads["accounts"].inserted == again.loads["accounts"].updated == 0


def test_an_interrupted_sync_resumes_after_the_last_staged_page(ws):
    def writer():
        return contextlib.nullcontext(ws)

    with pytest.raises(ConnectionError):
        sync.run(Crm(CRM, fail_after_pages=2), "crm", writer)
    assert staging.counts(ws.duckdb, "crm") == {"companies": 6}
    assert staging.cursor(ws.duckdb, "crm", "companies") == "6"
    resumed = sync.run(Crm(CRM), "crm", writer)
    assert resumed.pulled == {"companies": 1}
    assert accounts(ws) == [(c["id"], c["name"]) for c in CRM]


def test_a_changed_record_replaces_its_staged_version(ws):
    def writer():
        return contextlib.nullcontext(ws)

    sync.run(Crm(CRM), "crm", writer)
    renamed = [*CRM, {"id": "c2", "name": "Company Two", "updated": 8}]
    report = sync.run(Crm(renamed), "crm", writer)
    assert report.loads["accounts"].updated == 1
    assert ("c2", "Company Two") in accounts(ws)
    assert staging.counts(ws.duckdb, "crm") == {"companies": 7}
