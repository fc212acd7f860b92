"""`tenure automations`: when-then rules, created from YAML and run on demand."""

from pathlib import Path
from typing import Annotated

import typer

from tenure.cli.common import (
    AppDbOption,
    DbOption,
    Group,
    emit,
    friendly_errors,
    open_reader,
    open_store,
    out,
)
from tenure.errors import TenureError

automations_app = typer.Typer(cls=Group, help="When-then automations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(automations_app, name="automations")


@automations_app.command("add")
@friendly_errors
def automations_add(
    path: Annotated[
        Path, typer.Argument(help="A rule in YAML: name, trigger, conditions, actions.")
    ],
    start: Annotated[
        str,
        typer.Option(
            "--start",
            help="now (default): only what qualifies from now on; backlog: also everything "
            "that qualifies already, however old.",
        ),
    ] = "now",
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Create a rule from a YAML file and start it."""
    import yaml

    from tenure.app.automations import create_rule, start_rule

    if start not in ("now", "backlog"):
        raise TenureError(f"--start {start!r}: choose now or backlog")
    try:
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TenureError(f"cannot read {path}: {exc}") from None
    if not isinstance(rule, dict) or "name" not in rule:
        raise TenureError(f"{path}: expected a mapping with name, trigger, conditions, actions")
    with open_reader(db) as ws, open_store(app_db) as store:
        number = create_rule(
            store,
            str(rule["name"]),
            rule.get("trigger") or {},
            rule.get("conditions") or [],
            rule.get("actions") or [],
            enabled=False,
            tables=ws,
        )
        skipped = start_rule(store, ws, number, "now" if start == "now" else "backlog")["skipped"]
    seen = f"; {skipped} already qualifying, recorded as seen and not sent" if skipped else ""
    out().print(f"rule {number} created{seen}", highlight=False)


@automations_app.command("run")
@friendly_errors
def automations_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would fire.")] = False,
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Evaluate every enabled rule once and deliver what is due (what `tenure serve` does every
    minute)."""
    import pandas as pd

    from tenure.app.automations import run

    with open_reader(db) as ws, open_store(app_db) as store:
        report = run(store, ws, dry_run=dry_run)
    fired = pd.DataFrame(report.fired, columns=["rule_id", "subject", "window"])
    emit(
        fired,
        "table",
        None,
        f"{'would fire' if dry_run else 'fired'}: {len(fired)}; sent {report.sent}, retrying {report.retrying}, dead {report.dead}",
    )
