"""Benchmark: cold start of the CLI and of `tenure serve`.

Times, best of `--runs` fresh processes each, wall clock and CPU (user+sys): `tenure --help`,
`tenure metrics --help` and every command group's `--help` (`tenure sources --help`, ...), and
for `tenure serve` on a small demo store the time from launch to its first answer (GET /health)
and to its application being ready (/health says "ok"; every route answers). Baselines in the
same run: `python -c pass` and `python -c "import fastapi"`; every time is also printed as a
ratio to `python -c pass`. Targets: help under 0.3 s, the first answer within 2 s.

The processes write and read bytecode in a temporary cache (PYTHONPYCACHEPREFIX, after one
warm-up run each), as an installed Tenure does: with PYTHONDONTWRITEBYTECODE set, every run would
compile Tenure's sources again and measure the compiler.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
}
HELP_TARGET = 0.3
FIRST_ANSWER_TARGET = 2.0


def timed(*args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one fresh `python ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=ENV, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu


def groups() -> list[str]:
    """The command groups of `tenure` (`sources`, `automations`, ...), in help order."""
    import typer.main

    from tenure.cli import app

    root = typer.main.get_command(app)
    commands = getattr(root, "commands", {})
    return [name for name, command in commands.items() if hasattr(command, "commands")]


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
    parser.add_argument("--no-serve", action="store_true", help="time the help commands only")
    args = parser.parse_args()

    def best(*command: str) -> tuple[float, float]:
        timed(*command)  # warm-up: writes the bytecode cache
        runs = [timed(*command) for _ in range(args.runs)]
        return min(r[0] for r in runs), min(r[1] for r in runs)

    rows: list[tuple[str, tuple[float, float | None], float | None]] = []
    with tempfile.TemporaryDirectory(prefix="tenure-startup-") as tmp:
        folder = Path(tmp)
        ENV["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        python, fastapi = best("-c", "pass"), best("-c", "import fastapi")
        rows.append(("python -c 'import fastapi'", fastapi, None))
        rows.append(("tenure --help", best("-m", "tenure.cli", "--help"), HELP_TARGET))
        for name in ["metrics", *groups()]:
            times = best("-m", "tenure.cli", name, "--help")
            rows.append((f"tenure {name} --help", times, HELP_TARGET))
        if not args.no_serve:
            subprocess.run(
                [sys.executable, "-m", "tenure.cli", "demo", "--accounts", "100", "--events", "5000",
                 "--db", f"duckdb:///{folder / 's.duckdb'}", "--out", str(folder / "demo")],
                env=ENV, check=True, capture_output=True,
            )  # fmt: skip
            served = [serve_once(folder) for _ in range(args.runs)]
            first = min(s[0] for s in served)
            ready = min(s[1] for s in served)
            rows.append(("tenure serve: first answer", (first, None), FIRST_ANSWER_TARGET))
            rows.append(("tenure serve: application ready", (ready, None), None))
    print(f"{'baseline python -c pass':33s} {python[0]:6.3f} s  cpu {python[1]:6.3f} s")
    failed = False
    for name, (seconds, cpu), target in rows:
        verdict = "" if target is None else ("PASS" if seconds < target else "FAIL")
        failed |= verdict == "FAIL"
        limit = f"(target < {target} s)" if target else ""
        used = "    -   " if cpu is None else f"{cpu:6.3f} s"
        print(
            f"{name:33s} {seconds:6.3f} s  cpu {used}  {seconds / python[0]:5.1f}x python"
            f"  {seconds / fastapi[0]:4.1f}x import fastapi  {limit} {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
