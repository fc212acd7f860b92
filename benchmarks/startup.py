"""Benchmark: cold start of the CLI and of `tenure serve`.

Times, best of `--runs` fresh processes each: `tenure --help`, `tenure metrics --help`, and for
`tenure serve` on a small demo store the time from launch to its first answer (GET /health) and
to its application being ready (/health says "ok"; every route answers). Baselines in the same
run: `python -c pass` and `python -c "import fastapi"`. Targets: help under 0.3 s, the first
answer within 2 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
ENV = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
HELP_TARGET = 0.3
FIRST_ANSWER_TARGET = 2.0


def wall(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_once(folder: Path) -> tuple[float, float]:
    """(seconds to the first answer, seconds to the application being ready)."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "tenure.cli", "serve", "--port", str(port),
         "--db", f"duckdb:///{folder / 's.duckdb'}", "--app-db", f"sqlite:///{folder / 'app.db'}"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    first = ready = 0.0
    try:
        while not ready and time.perf_counter() - started < 120:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["status"]
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            now = time.perf_counter() - started
            first = first or now
            ready = now if status == "ok" else 0.0
    finally:
        server.kill()
        server.wait(60)
    if not ready:
        raise SystemExit("the server did not become ready within 120 s")
    return first, ready


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    def best(*command: str) -> float:
        return min(wall(*command) for _ in range(args.runs))

    python, fastapi = best("-c", "pass"), best("-c", "import fastapi")
    help_top = best("-m", "tenure.cli", "--help")
    help_metrics = best("-m", "tenure.cli", "metrics", "--help")
    with tempfile.TemporaryDirectory(prefix="tenure-startup-") as tmp:
        folder = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "tenure.cli", "demo", "--accounts", "100", "--events", "5000",
             "--db", f"duckdb:///{folder / 's.duckdb'}", "--out", str(folder / "demo")],
            env=ENV, check=True, capture_output=True,
        )  # fmt: skip
        served = [serve_once(folder) for _ in range(args.runs)]
    first = min(s[0] for s in served)
    ready = min(s[1] for s in served)
    print(f"baseline  python -c pass          {python:6.2f} s")
    print(f"baseline  python -c 'import fastapi' {fastapi:6.2f} s")
    rows = [
        ("tenure --help", help_top, HELP_TARGET),
        ("tenure metrics --help", help_metrics, HELP_TARGET),
        ("tenure serve: first answer", first, FIRST_ANSWER_TARGET),
        ("tenure serve: application ready", ready, None),
    ]
    failed = False
    for name, seconds, target in rows:
        verdict = "" if target is None else ("PASS" if seconds < target else "FAIL")
        failed |= verdict == "FAIL"
        limit = f"(target < {target} s)" if target else ""
        ratio = seconds / fastapi
        print(f"{name:33s} {seconds:6.2f} s  {ratio:4.1f}x import fastapi  {limit} {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
