"""The CLI's shared hooks: output capture per context, and a light `import tenure.cli`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from typer.testing import CliRunner

from tenure.cli import app
from tenure.cli.common import capture, err, out, write

runner = CliRunner()


def test_capture_routes_every_output_into_plain_text_buffers() -> None:
    with capture() as captured:
        out().print("[bold]table[/bold] 1,234", markup=True)
        write("a,b\n")
        err().print("[red]error:[/red] note", markup=True)
    assert captured.stdout == "table 1,234\na,b\n"
    assert captured.stderr == "error: note\n"
    assert "\x1b[" not in captured.stdout + captured.stderr
    # After the block the real console is back, following sys.stdout.
    assert out().file is sys.stdout


def test_a_command_run_inside_capture_prints_nothing_outside() -> None:
    with capture() as captured:
        result = runner.invoke(app, ["contract", "accounts"])
    assert result.exit_code == 0 and result.output == ""
    assert "account_id" in captured.stdout and captured.stderr == ""
    with capture() as failed:
        result = runner.invoke(app, ["cohorts", "--kind", "bogus"])
    assert result.exit_code == 2 and result.output == ""
    assert failed.stderr == "error: unknown cohort kind 'bogus'; choose logos or revenue\n"


def test_capture_in_one_thread_leaves_other_threads_alone() -> None:
    real = out()
    seen: list[bool] = []

    def other() -> None:
        seen.append(out() is real)

    with capture() as captured:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        out().print("mine")
    assert captured.stdout == "mine\n"
    assert seen == [True] and out() is real


def test_importing_the_cli_does_not_import_pandas_or_ibis() -> None:
    code = (
        "import sys, tenure.cli; "
        "print(sorted(m for m in ('pandas', 'ibis', 'duckdb', 'fastapi') if m in sys.modules))"
    )
    src = str(Path(__file__).parents[1] / "src")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert done.stdout.strip() == "[]"
