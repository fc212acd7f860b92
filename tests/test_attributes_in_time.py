"""Every metric split by an account attribute reads the value in force at the end of each
period, once account_history records a change: usage, support, surveys, purchases, lifecycle,
cohorts, funnels and survival, as revenue does (tests/test_segments_in_time.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import tenure
from tenure.metrics.voice import score_distribution
from tenure.workspace import Workspace
from tests.books import day, load_book, sub, value

JAN, JUN = dt.date(2025, 1, 1), dt.date(2025, 6, 1)
MONTHS = pd.date_range("2025-01-01", "2025-06-01", freq="MS").date
# Owners: A is ann's, bo's from 10 March, ann's again from 20 May; C is cy's until the first
# instant of February (January's end), ann's from then; B stays bo's.
CHANGES = [("A", "bo", "2025-03-10"), ("C", "ann", "2025-02-01"), ("A", "ann", "2025-05-20")]
ADDITIVE = [
    "active_accounts",
    "active_users",
    "sessions",
    "page_views",
    "feature_events",
    "tickets",
    "backlog",
    "nps",
    "survey_responses",
    "repeat_purchase_rate",
    "customers",
    "mrr",
]


def owner_at_month_end(account: str, month: dt.date) -> str:
    """What the history says, read independently: the latest change before the month's end."""
    end = pd.Timestamp(month) + pd.offsets.MonthBegin(1)
    owner = {"A": "ann", "B": "bo", "C": "cy"}[account]
    for who, new, since in CHANGES:
        if who == account and pd.Timestamp(since) < end:
            owner = new
    return owner


def _company(ws: Workspace) -> None:
    load_book(
        ws,
        [sub("A", 100, "2025-01-01"), sub("B", 40, "2025-01-01"), sub("C", 70, "2025-01-01")],
        accounts={a: {"owner": o} for a, o in (("A", "ann"), ("B", "bo"), ("C", "cy"))},
        orders=[
            {"account_id": a, "ordered_at": day(f"2025-{m:02d}-0{n}"), "amount": 10 * n}
            for a, months in (("A", (1, 3, 4)), ("B", (2, 2)), ("C", (1, 5)))
            for n, m in enumerate(months, start=1)
        ],
        users=[
            {"user_id": u, "account_id": u[0], "created_at": day(f"2025-0{n}-02")}
            for n, u in enumerate(("A1", "A2", "B1", "C1"), start=1)
        ],
    )
    events, tickets, answers = [], [], []
    for m in range(1, 7):
        for user, days in (("A1", (4, 18)), ("A2", (18,)), ("B1", (9,)), ("C1", (11, 25))):
            if user == "B1" and m % 2:
                continue  # B is active in even months only
            for d in days:
                at = f"2025-{m:02d}-{d:02d}T10:00:00"
                events += [
                    _event(len(events), at, user, "page_view", page="/home"),
                    _event(len(events) + 1, at, user, "feature_used", feature="reports"),
                ]
        for account, score in (("A", 9 if m < 4 else 3), ("C", 7), ("B", 10)):
            answers.append(
                {
                    "response_id": f"R{m}{account}",
                    "account_id": account,
                    "survey": "nps",
                    "score": score,
                    "responded_at": day(f"2025-{m:02d}-15"),
                    "comment": "great support" if account == "A" and m in (2, 4) else None,
                }
            )
            tickets.append(
                {
                    "ticket_id": f"T{m}{account}",
                    "account_id": account,
                    "channel": "email",
                    "opened_at": day(f"2025-{m:02d}-12"),
                    "status": "open" if account == "A" else "resolved",
                    "resolved_at": None if account == "A" else day(f"2025-{m:02d}-13"),
                }
            )
    for table, rows in (("events", events), ("tickets", tickets), ("survey_responses", answers)):
        assert ws.load(table, pd.DataFrame(rows)).rejected == 0
    for account, owner, since in CHANGES:
        row = {"account_id": account, "name": account, "created_at": day("2020-01-01")}
        moved = row | {"owner": owner, "valid_from": day(since)}
        assert ws.load("accounts", pd.DataFrame([moved])).updated == 1


def _event(number: int, at: str, user: str, name: str, **extra: str) -> dict:
    return {
        "event_id": f"E{number}",
        "occurred_at": day(at),
        "name": name,
        "user_id": user,
        "account_id": user[0],
        "session_id": f"{user}-{at[:10]}",
        **extra,
    }


@pytest.fixture(scope="module")
def company() -> Iterator[Workspace]:
    """One company for the module's tests, which only read it."""
    with tenure.connect("duckdb://") as ws:
        _company(ws)
        yield ws


def test_each_segment_holds_the_accounts_the_history_puts_there_at_each_months_end(
    company: Workspace,
) -> None:
    """For every additive metric, a segment's numerator and denominator are the sums over the
    accounts whose owner at the month's end the history names (each account's own figures come
    from a filter, which reads no attribute history)."""
    ws = company
    split = ws.metrics(ADDITIVE, start=JAN, end=JUN, by=["owner"])
    alone = {
        a: ws.metrics(ADDITIVE, start=JAN, end=JUN, where=f"account_id = '{a}'") for a in "ABC"
    }
    for name in ADDITIVE:
        for month in MONTHS:
            expected: dict[str, list[Decimal]] = {}
            for account, frame in alone.items():
                row = frame[(frame.metric == name) & (frame.period_start == month)].iloc[0]
                parts = expected.setdefault(owner_at_month_end(account, month), [Decimal(0)] * 2)
                parts[0] += Decimal(str(row["numerator"] or 0))
                parts[1] += Decimal(str(row["denominator"] or 0))
            rows = split[(split.metric == name) & (split.period_start == month)]
            found = {
                r.owner: [Decimal(str(r.numerator or 0)), Decimal(str(r.denominator or 0))]
                for r in rows.itertuples()
                if (r.numerator or 0) or (r.denominator or 0)
            }
            wanted = {o: p for o, p in expected.items() if any(p)}
            assert found == wanted, (name, month)


def test_an_owner_change_moves_usage_support_and_surveys_in_the_month_it_happens(
    company: Workspace,
) -> None:
    ws = company
    frame = ws.metrics(["active_accounts", "tickets", "nps"], start=JAN, end=JUN, by=["owner"])
    assert value(frame, "active_accounts", "2025-02-01", owner="ann") == 2  # A, and C from Feb
    assert value(frame, "active_accounts", "2025-03-01", owner="ann") == 1  # A left for bo
    assert value(frame, "active_accounts", "2025-03-01", owner="bo") == 1  # B is idle in March
    assert value(frame, "tickets", "2025-01-01", owner="cy") == 1
    assert value(frame, "tickets", "2025-02-01", owner="cy") == 0
    # A's detractor score of April counts for bo, its promoter score of February for ann
    assert value(frame, "nps", "2025-04-01", owner="bo") == pytest.approx(0.0)  # A 3, B 10
    assert value(frame, "nps", "2025-02-01", owner="ann") == pytest.approx(50.0)  # A 9, C 7
    drill = ws.drill("active_accounts", "2025-03", by=["owner"])
    assert dict(zip(drill.account_id, drill.owner, strict=True)) == {"A": "bo", "C": "ann"}


def test_lifecycle_in_a_segment_follows_the_account_across_owners(company: Workspace) -> None:
    ws = company
    names = [f"account_lifecycle_{s}" for s in ("new", "returning", "resurrecting", "dormant")]
    frame = ws.metrics([*names, "active_accounts"], start=JAN, end=JUN, by=["owner"])
    assert value(frame, "account_lifecycle_dormant", "2025-03-01", owner="ann") == -1  # A left
    assert value(frame, "account_lifecycle_new", "2025-03-01", owner="bo") == 1  # A arrived
    assert value(frame, "account_lifecycle_resurrecting", "2025-05-01", owner="ann") == 1  # A back
    for month in MONTHS:
        for owner in ("ann", "bo", "cy"):
            states = sum(value(frame, n, str(month), owner=owner) for n in names[:3])
            assert states == value(frame, "active_accounts", str(month), owner=owner)
    sticky = ws.stickiness(start=JAN, end=JUN, by=["owner"], unit="account")
    march = sticky[(sticky.period_start == dt.date(2025, 3, 1)) & (sticky.accounts > 0)]
    assert set(zip(march.owner, march.days_active, strict=True)) == {("ann", 2), ("bo", 2)}


def test_cohorts_funnels_answers_and_survival_read_the_history_too(company: Workspace) -> None:
    ws = company
    # A cohort keeps the owners of the month it joined: January's cohort is ann's A and cy's C.
    cohorts = ws.cohorts(start=JAN, end=JUN, by=["owner"])
    sizes = cohorts[cohorts.offset == 0].set_index("owner")["cohort_size"].to_dict()
    assert sizes == {"ann": 1, "bo": 1, "cy": 1}
    # Entries into a funnel count under the owner at the end of the entry month: everyone but
    # B1 entered in January, when C was still cy's.
    funnel = ws.funnel(["page_view", "feature_used"], start=JAN, end=JUN, by=["owner"])
    entered = funnel[(funnel.step == 1) & (funnel.period_start == JAN)]
    assert dict(zip(entered.owner, entered.people, strict=True)) == {"ann": 2, "cy": 1}
    # Answers count under the owner of the day they were given.
    scores = score_distribution(ws, "nps", JAN, dt.date(2025, 6, 30), by=["owner"])
    assert scores[(scores.owner == "bo") & (scores.score == 3)]["answers"].tolist() == [2]
    assert scores[(scores.owner == "ann") & (scores.score == 3)]["answers"].tolist() == [1]
    comments = ws.feedback(start=JAN, end=JUN, by=["owner"])
    assert comments["owner"].tolist() == ["ann", "bo"]  # A's of February and of April
    # A life is split by the owner of the day it ended (or of as_of, still paying).
    _, summary = ws.survival(as_of=dt.date(2025, 4, 15), by=["owner"])
    assert summary.set_index("owner")["accounts"].to_dict() == {"ann": 1, "bo": 2}


@pytest.mark.skipif(
    shutil.which("java") is None, reason="Spark needs Java; `make test` installs it"
)
def test_usage_and_support_split_by_a_changing_owner_the_same_on_spark(
    company: Workspace, tmp_path: Path
) -> None:
    names = ["active_accounts", "tickets", "nps", "account_lifecycle_new"]
    company.export(tmp_path / "parquet")
    spark = tenure.connect(f"pyspark://{(tmp_path / 'parquet').resolve()}")
    keys = ["metric", "period_start", "owner"]
    left, right = (
        w.metrics(names, start=JAN, end=JUN, by=["owner"]).sort_values(keys).reset_index(drop=True)
        for w in (company, spark)
    )
    assert value(right, "active_accounts", "2025-03-01", owner="bo") == 1
    assert left[keys].equals(right[keys])
    assert [float(v) for v in left["value"].fillna(-1)] == [
        float(v) for v in right["value"].fillna(-1)
    ]


def test_a_snapshot_older_than_a_recorded_change_fills_the_history_and_keeps_the_latest(
    ws: Workspace,
) -> None:
    """Snapshots loaded out of order: January's (ann), May's (cy), then March's (bo). March's
    values take effect in March, not from the load on; the account keeps cy."""
    load_book(ws, [sub("A", 100, "2025-01-01")], accounts={"A": {"owner": "ann"}})
    row = {"account_id": "A", "name": "A", "created_at": day("2020-01-01")}
    for owner, since in (("cy", "2025-05-01"), ("bo", "2025-03-01")):
        moved = row | {"owner": owner, "valid_from": day(since)}
        assert ws.load("accounts", pd.DataFrame([moved])).rejected == 0
    assert ws.table("accounts").to_pandas()["owner"].tolist() == ["cy"]
    frame = ws.metrics(["mrr"], start=JAN, end=JUN, by=["owner"])
    owners = frame[frame.value != 0].set_index("period_start")["owner"].to_dict()
    assert [owners[m] for m in MONTHS] == ["ann", "ann", "bo", "bo", "cy", "cy"]
    # the same March snapshot again adds nothing; one that repeats May's owner in April does
    again = row | {"owner": "bo", "valid_from": day("2025-03-01")}
    assert ws.load("accounts", pd.DataFrame([again])).rejected == 0
    early = row | {"owner": "cy", "valid_from": day("2025-04-01")}
    assert ws.load("accounts", pd.DataFrame([early])).rejected == 0
    history = ws.table("account_history").to_pandas().sort_values("valid_from")
    assert history["value"].tolist() == ["ann", "bo", "cy", "cy"]
    frame = ws.metrics(["mrr"], start=JAN, end=JUN, by=["owner"])
    assert value(frame, "mrr", "2025-04-01", owner="cy") == Decimal(100)
