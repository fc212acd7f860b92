"""Ingestion: batches of events, survey responses or tickets, through the one writer."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Path

from tenure.api.deps import Editor, Live, StoreDep, audit
from tenure.api.problems import Problem, errors
from tenure.api.schemas import IngestIn, IngestOut, Reject

router = APIRouter()
INGESTIBLE = ("events", "survey_responses", "tickets")


@router.post(
    "/api/ingest/{table}",
    summary="Load a batch of events, survey responses or tickets",
    responses=errors(404),
)
def ingest(
    key: Editor,
    live: Live,
    store: StoreDep,
    table: Annotated[str, Path(max_length=50)],
    body: IngestIn,
) -> IngestOut:
    if table not in INGESTIBLE:
        raise Problem(
            404,
            "Not found",
            f"ingestion takes {', '.join(INGESTIBLE)}; load other tables with `tenure load`",
        )
    rows = pd.DataFrame(body.rows)
    with live.writer() as ws:
        report = ws.load(table, rows)
    audit(store, key, "ingest", f"{table}: {report.inserted} inserted, {report.rejected} rejected")
    return IngestOut(
        table=table,
        read=report.rows_read,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=report.rejected,
        rejects=[
            Reject(row=r.line, column=r.column, value=r.value, reason=r.reason)
            for r in report.rejects[:100]
        ],
        warnings=report.warnings,
    )
