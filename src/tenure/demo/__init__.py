"""The demo company: a seeded SaaS + e-commerce business covering every canonical table.

`generate` writes one Parquet file per table (events streamed in chunks, so 100M events fit in
memory); `build` also loads them into a workspace through the ordinary loader.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq

from tenure.data.contract import LOAD_ORDER
from tenure.demo.company import build_company
from tenure.demo.costs import costs_table
from tenure.demo.support import tickets_table
from tenure.demo.usage import write_events
from tenure.demo.voice import survey_table

if TYPE_CHECKING:
    from tenure.data.loader import LoadReport
    from tenure.workspace import Workspace

Progress = Callable[[str, int, int], None]  # (stage, advance, total)


@dataclass
class DemoResult:
    paths: dict[str, Path]
    rows: dict[str, int]
    seconds_generate: float = 0.0
    seconds_load: float = 0.0
    reports: list[LoadReport] = field(default_factory=list)

    @property
    def peak_memory_mb(self) -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _quiet(stage: str, advance: int, total: int) -> None:
    """The default progress sink: report nothing."""


def generate(
    out: Path,
    *,
    accounts: int = 2000,
    events: int = 1_000_000,
    seed: int = 7,
    as_of: dt.date | None = None,
    progress: Progress = _quiet,
) -> DemoResult:
    if accounts < 1 or events < 1:
        raise ValueError("the demo needs at least one account and one event")
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    as_of = as_of or dt.date.today()
    streams = np.random.SeedSequence(seed).spawn(5)
    company = build_company(np.random.default_rng(streams[0]), accounts, as_of)
    tables = dict(company.tables)
    tables["tickets"] = tickets_table(np.random.default_rng(streams[1]), company)
    tables["survey_responses"] = survey_table(
        np.random.default_rng(streams[2]), company, tables["tickets"]
    )
    tables["costs"] = costs_table(np.random.default_rng(streams[3]), company, tables["tickets"])
    paths: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for name, table in tables.items():
        paths[name] = out / f"{name}.parquet"
        pq.write_table(table, paths[name], compression="zstd")
        rows[name] = table.num_rows
    paths["events"] = out / "events.parquet"
    rows["events"] = write_events(
        np.random.default_rng(streams[4]),
        company,
        tables["subscriptions"],
        events,
        paths["events"],
        lambda n: progress("events", n, events),
    )
    return DemoResult(paths, rows, seconds_generate=time.perf_counter() - started)


def build(
    workspace: Workspace,
    out: Path,
    *,
    progress: Progress = _quiet,
    **options: int | dt.date | None,
) -> DemoResult:
    """Generate the demo company into `out` and load every table into `workspace`."""
    result = generate(out, progress=progress, **options)  # type: ignore[arg-type]
    started = time.perf_counter()
    for table in LOAD_ORDER:
        result.reports.append(workspace.load(table, result.paths[table]))
        progress("load", 1, len(LOAD_ORDER))
    result.seconds_load = time.perf_counter() - started
    return result
