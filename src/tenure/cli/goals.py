"""`tenure goals`: targets, progress and status."""

import datetime as dt
from typing import Annotated, Any

import typer

from tenure.cli.common import (
    AppDbOption,
    DbOption,
    FormatOption,
    Group,
    emit,
    friendly_errors,
    open_reader,
    open_store,
    parse_date,
)
from tenure.errors import TenureError

goals_app = typer.Typer(
    cls=Group, help="Goals: targets, progress and status.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(goals_app, name="goals")


def _goal_table(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    columns = [
        "id",
        "name",
        "kind",
        "owner",
        "value",
        "target_value",
        "progress",
        "expected",
        "status",
        "due_date",
    ]
    return pd.DataFrame(rows, columns=columns)


@goals_app.command("list")
@friendly_errors
def goals_list(
    fmt: FormatOption = "table", app_db: AppDbOption = None, db: DbOption = None
) -> None:
    """Every goal with its current value, progress, expected progress and status."""
    from tenure.app import goals

    with open_store(app_db) as store:
        rows, _ = goals.page(store, limit=10_000)
    with open_reader(db) as ws:
        shown = [goals.view(g, ws) for g in rows]
    emit(_goal_table(shown), fmt, None, f"{len(shown)} goals")


@goals_app.command("add")
@friendly_errors
def goals_add(
    name: Annotated[str, typer.Argument(help="What the goal is.")],
    kind: Annotated[
        str, typer.Option("--kind", help="metric, number, boolean or tasks.")
    ] = "metric",
    metric: Annotated[str | None, typer.Option("--metric", help="For a metric goal.")] = None,
    start_value: Annotated[float, typer.Option("--start-value", help="Where it starts.")] = 0.0,
    target: Annotated[float, typer.Option("--target", help="Where it should get to.")] = 1.0,
    start: Annotated[
        str | None, typer.Option("--start", help="Start date (default today).")
    ] = None,
    due: Annotated[str | None, typer.Option("--due", help="Due date.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Who owns it.")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", help="A task (repeatable).")] = None,
    display: Annotated[str, typer.Option("--display", help="bar, pie or thermometer.")] = "bar",
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Create a goal."""
    from tenure.app import goals

    begin = parse_date(start, "--start") or dt.date.today()
    end = parse_date(due, "--due")
    if end is None:
        raise TenureError("a goal needs --due YYYY-MM-DD")
    fields = {
        "name": name,
        "kind": kind,
        "metric": metric,
        "start_value": start_value,
        "target_value": target,
        "start_date": begin,
        "due_date": end,
        "owner": owner,
        "tasks": [{"title": t, "done": False} for t in task or []],
        "display": display,
    }
    with open_reader(db) as ws, open_store(app_db) as store:
        shown = goals.create(store, ws, fields)
    emit(_goal_table([shown]), "table", None, f"goal {shown['id']} created")


@goals_app.command("set")
@friendly_errors
def goals_set(
    goal_id: Annotated[int, typer.Argument(help="The goal's id.")],
    value: Annotated[float | None, typer.Option("--value", help="A number goal's value.")] = None,
    done: Annotated[
        bool | None, typer.Option("--done/--not-done", help="A true/false goal.")
    ] = None,
    task_done: Annotated[
        list[int] | None, typer.Option("--task-done", help="Tick task N (1-based, repeatable).")
    ] = None,
    app_db: AppDbOption = None,
    db: DbOption = None,
) -> None:
    """Update a goal kept by hand: its value, done flag or tasks."""
    from tenure.app import goals

    changes: dict[str, Any] = {}
    if value is not None:
        changes["current_value"] = value
    if done is not None:
        changes["done"] = done
    with open_store(app_db) as store:
        if task_done:
            tasks = [dict(t) for t in goals.get(store, goal_id).tasks]
            for number in task_done:
                if not 1 <= number <= len(tasks):
                    raise TenureError(f"task {number} does not exist; the goal has {len(tasks)}")
                tasks[number - 1]["done"] = True
            changes["tasks"] = tasks
        with open_reader(db) as ws:
            shown = goals.update(store, ws, goal_id, changes)
    emit(_goal_table([shown]), "table", None, f"goal {goal_id}")
