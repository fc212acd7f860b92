from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tenure
from tenure.data import demo
from tenure.workspace import Workspace


@pytest.fixture
def ws() -> Iterator[Workspace]:
    with tenure.connect("duckdb://") as workspace:
        yield workspace


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file in the test's folder and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="session")
def demo_ws(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, demo.DemoResult]]:
    """A small demo company, loaded once for the tests that read it."""
    folder = tmp_path_factory.mktemp("demo")
    with tenure.connect("duckdb://") as workspace:
        result = demo.build(workspace, folder, accounts=400, events=60_000, seed=11, as_of=AS_OF)
        yield workspace, result
