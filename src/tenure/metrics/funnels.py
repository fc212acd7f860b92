"""Ordered funnels over events: of the people who did the first step in a period, how many then
did each later step, in order, within a conversion window of the first.

A person is a user; an anonymous visitor is joined to the user who later carried the same
anonymous_id (an event with both, such as a signup), so a visit -> signup -> paid funnel follows
one person across both identities. A step counts only at or after the previous step's time and
no later than the window after the first step (steps out of order do not count). Each person
enters once: at her first occurrence of the first step within the range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis.expr.types as ir
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.compute import make_query
from tenure.metrics.query import Query, flag
from tenure.metrics.tables import Tables


def _identity(table: ir.Table) -> ir.Table:
    """Each anonymous id that an event ties to a user: known_anonymous -> became."""
    # A view: Ibis would otherwise bind both sides of the later self-join to one table.
    both = table.view()
    known = both.filter(both.user_id.notnull() & both.anonymous_id.notnull())
    return known.group_by(known_anonymous=known.anonymous_id).aggregate(became=known.user_id.min())


def _people(query: Query, events: ir.Table, identity: ir.Table) -> ir.Table:
    """`events` with `person` (user, or the user an anonymous id became), `at` and `at_s`."""
    joined = events.left_join(identity, events.anonymous_id == identity.known_anonymous)
    person = joined.user_id.fill_null(joined.became).fill_null(joined.anonymous_id)
    at = query.local(joined.occurred_at)
    return joined.select(
        "name", "account_id", person=person, at=at, at_s=joined.occurred_at.epoch_seconds()
    )


def _reached(
    tables: Tables,
    steps: Sequence[str],
    *,
    window_days: float,
    grain: str,
    start: dt.date | None,
    end: dt.date | None,
    by: Sequence[str],
    where: str | None,
) -> tuple[Query, ir.Table]:
    """One row per person who entered the funnel: person, account_id, period_start, segments,
    and each step's time t1, t2, ... (NULL once a step is missed)."""
    if len(steps) < 2:
        raise QueryError("a funnel needs at least two steps, e.g. visit signup converted_to_paid")
    if window_days <= 0:
        raise QueryError("the conversion window must be positive")
    query = make_query(
        tables, [], grain=grain, start=start, end=end, by=by, where=where, policy=None
    )
    table = query.tables.table("events")
    identity = _identity(table)
    events = _people(query, table.filter(table.name.isin(list(steps))), identity)
    periods = query.calendar.filter(query.calendar.period_index >= 1).select(
        "period_start", "last_day"
    )
    first = events.filter(events.name == steps[0]).mutate(day=events.at.date())
    first = first.join(periods, [first.day >= periods.period_start, first.day <= periods.last_day])
    entries = first.group_by("person").aggregate(
        t1=first.at_s.min(), period_start=first.period_start.min()
    )
    # The person's account, known from any of her events (a visit has none yet).
    everything = _people(query, table.filter(table.account_id.notnull()), identity)
    accounts = everything.group_by(account_person=everything.person).aggregate(
        account_id=everything.account_id.max()
    )
    entries = entries.left_join(accounts, entries.person == accounts.account_person).drop(
        "account_person"
    )
    entries = query.restricted(entries)  # a filter keeps the people of the accounts it matches
    limit = window_days * 86400
    # One row per person, widened by each step's time (t2, t3, ...; NULL once a step is missed):
    # every step reads the table of the step before exactly once, so the query grows linearly
    # with the steps and the entries are computed once.
    reached = query.with_segments(entries, day="period_start")
    previous = "t1"
    for number, name in enumerate(steps[1:], start=2):
        later = events.filter(events.name == name).select(later_person="person", later_s="at_s")
        hits = reached.left_join(
            later,
            [
                reached.person == later.later_person,
                later.later_s >= reached[previous],
                later.later_s <= reached.t1 + limit,
            ],
        )
        previous = f"t{number}"
        reached = hits.group_by(list(reached.columns)).aggregate(**{previous: hits.later_s.min()})
    return query, reached


def funnel(
    tables: Tables,
    steps: Sequence[str],
    *,
    window_days: float = 30.0,
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
) -> pd.DataFrame:
    """One row per entry period, segment and step: step (1-based), event, people, and the
    conversion % from the first step and from the previous one."""
    query, reached = _reached(
        tables,
        steps,
        window_days=window_days,
        grain=grain,
        start=start,
        end=end,
        by=by,
        where=where,
    )
    keys = ["period_start", *query.by]
    counted = reached.group_by(keys).aggregate(
        step_1=reached.count(),
        **{f"step_{i}": reached[f"t{i}"].count() for i in range(2, len(steps) + 1)},
    )
    counts = counted.to_pandas()
    frame = counts.sort_values(keys, na_position="last")
    rows = []
    for record in frame.to_dict("records"):
        entered = record["step_1"]
        for i, name in enumerate(steps, start=1):
            people = int(record[f"step_{i}"])
            before = int(record[f"step_{i - 1}"]) if i > 1 else people
            rows.append(
                {
                    **{k: record[k] for k in keys},
                    "step": i,
                    "event": name,
                    "people": people,
                    "from_first": 100.0 * people / entered if entered else None,
                    "from_previous": 100.0 * people / before if before else None,
                }
            )
    result = pd.DataFrame(
        rows, columns=[*keys, "step", "event", "people", "from_first", "from_previous"]
    )
    result["period_start"] = pd.to_datetime(result["period_start"]).dt.date
    result.attrs = {"steps": list(steps), "window_days": window_days, "grain": grain}
    return result


def funnel_people(
    tables: Tables,
    steps: Sequence[str],
    step: int,
    *,
    dropped: bool = False,
    window_days: float = 30.0,
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
) -> pd.DataFrame:
    """The people behind one step of `funnel` over the whole range: those who reached step
    `step` (1-based), or (`dropped`) those who reached the step before and not this one. Each
    with her account (when known), entry period and the time of each step she reached.
    `frame.attrs`: numerator (these people) and denominator (the funnel's entries; for
    `dropped`, the people at the step before)."""
    if not 1 <= step <= len(steps):
        raise QueryError(f"step must be 1 to {len(steps)}, the funnel's steps")
    if dropped and step == 1:
        raise QueryError("nobody drops at the first step: everyone in the funnel did it")
    query, reached = _reached(
        tables,
        steps,
        window_days=window_days,
        grain=grain,
        start=start,
        end=end,
        by=by,
        where=where,
    )
    here, before = reached[f"t{step}"], reached[f"t{max(step - 1, 1)}"]
    base = before.notnull() if dropped else reached.t1.notnull()
    kept = (before.notnull() & here.isnull()) if dropped else here.notnull()
    totals = reached.aggregate(numerator=flag(kept).sum(), denominator=flag(base).sum()).to_pandas()
    chosen = reached.filter(kept)
    names = query.accounts.select(name_account="account_id", name="name")
    chosen = chosen.left_join(names, chosen.account_id == names.name_account)
    unique = len(set(steps)) == len(steps)
    times = {
        f"{name}_at" if unique else f"step_{i}_at": chosen[f"t{i}"].as_timestamp("s")
        for i, name in enumerate(steps, start=1)
        if i <= (step - 1 if dropped else step)
    }
    picked = chosen.select(
        "person", "account_id", "name", *query.by, "period_start", **times
    ).order_by("period_start", "person")
    result: pd.DataFrame = picked.to_pandas()
    result["period_start"] = pd.to_datetime(result["period_start"]).dt.date
    numerator, denominator = (int(totals[c].iloc[0] or 0) for c in ("numerator", "denominator"))
    what = "dropped at" if dropped else "reached"
    result.attrs = {
        "definition": (
            f"people who {what} step {step} ({steps[step - 1]}) / "
            + (
                f"people at step {step - 1} ({steps[step - 2]})"
                if dropped
                else "people who entered"
            )
            + f"; {window_days:g}-day window from the first step"
        ),
        "unit": "percent",
        "value": 100.0 * numerator / denominator if denominator else None,
        "numerator": numerator,
        "denominator": denominator,
    }
    return result
