"""Each benchmark of `make bench` runs to its end at a tiny size, so that a change that breaks one
(a generator whose rows the loader now rejects, a renamed function) fails here, not at the next
`make bench`. The figures are not checked: timings belong to the benchmarks, never to tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# (script, tiny-size arguments, a phrase of the line that reports its ratio)
TINY = [
    ("metrics_scale.py", ["--accounts", "300", "--orders", "1000", "--runs", "1"], "baseline"),
    ("engagement_scale.py", ["--events", "20000", "--runs", "1"], "baseline"),
    ("clv_scale.py", ["--customers", "2000"], "faster"),
    ("demo_scale.py", ["--accounts", "100", "--events", "20000"], "plain DuckDB insert"),
    ("recent_window.py", ["--events", "20000", "--years", "2", "--runs", "1"], "ratio"),
]


@pytest.mark.parametrize(("script", "args", "reported"), TINY, ids=[t[0] for t in TINY])
def test_the_benchmark_runs_at_a_tiny_size(
    script: str, args: list[str], reported: str, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert reported in done.stdout, done.stdout[-2000:]
    assert not list(scratch.iterdir()), "the benchmark left its scratch files behind"


def test_make_bench_runs_every_benchmark_in_the_folder() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from run import BENCHMARKS as LISTED
    finally:
        sys.path.remove(str(BENCHMARKS))
    helpers = {"run.py", "timing.py"}
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - helpers
    # Run by hand: the daily increment needs a large store (--db), the snapshot one trains churn.
    assert set(LISTED) | {"daily_increment.py", "snapshot_scale.py"} == scripts
