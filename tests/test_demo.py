"""The demo company: complete, loadable with zero rejects, deterministic, and coherent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from tenure import demo
from tenure.data.contract import CONTRACTS
from tenure.demo.voice import PHRASES
from tenure.workspace import Workspace

from .conftest import AS_OF


def sql(ws: Workspace, query: str) -> list[tuple[object, ...]]:
    return ws.duckdb.execute(query).fetchall()  # type: ignore[no-any-return]


def test_every_table_loads_with_zero_rejects(demo_ws: tuple[Workspace, demo.DemoResult]) -> None:
    ws, result = demo_ws
    assert {r.table for r in result.reports} == set(CONTRACTS)
    for report in result.reports:
        assert report.rejected == 0, (report.table, report.rejects[:3])
        assert report.inserted == result.rows[report.table] > 0, report.table
    assert ws.row_counts()["events"] == 60_000


def test_reloading_the_demo_changes_nothing(demo_ws: tuple[Workspace, demo.DemoResult]) -> None:
    ws, result = demo_ws
    for table in ("subscriptions", "tickets", "survey_responses"):
        report = ws.load(table, result.paths[table])
        assert (report.inserted, report.updated, report.unchanged) == (0, 0, result.rows[table])


def test_same_seed_same_company(tmp_path: Path) -> None:
    a = demo.generate(tmp_path / "a", accounts=60, events=3_000, seed=5, as_of=AS_OF)
    b = demo.generate(tmp_path / "b", accounts=60, events=3_000, seed=5, as_of=AS_OF)
    c = demo.generate(tmp_path / "c", accounts=60, events=3_000, seed=6, as_of=AS_OF)
    for table in ("subscriptions", "events", "survey_responses"):
        assert pq.read_table(a.paths[table]).equals(pq.read_table(b.paths[table]))
    assert not pq.read_table(a.paths["subscriptions"]).equals(
        pq.read_table(c.paths["subscriptions"])
    )


def test_toy_size_is_exact(tmp_path: Path) -> None:
    result = demo.generate(tmp_path, accounts=20, events=1_000, seed=1, as_of=AS_OF)
    assert pq.read_metadata(result.paths["events"]).num_rows == 1_000


def test_history_is_within_the_window(demo_ws: tuple[Workspace, demo.DemoResult]) -> None:
    ws, _ = demo_ws
    as_of = dt.datetime(2026, 11, 1)
    for table, column in (
        ("events", "occurred_at"),
        ("orders", "ordered_at"),
        ("subscriptions", "started_at"),
        ("tickets", "opened_at"),
        ("tickets", "resolved_at"),
        ("survey_responses", "responded_at"),
        ("users", "created_at"),
    ):
        ((first, last),) = sql(ws, f"SELECT min({column}), max({column}) FROM {table}")
        assert dt.datetime(2023, 10, 1) <= first and last < as_of, (table, column, last)


def test_subscription_lifecycle_is_varied(demo_ws: tuple[Workspace, demo.DemoResult]) -> None:
    ws, _ = demo_ws
    ((plans, periods, currencies, trials, canceled, discounted, free),) = sql(
        ws,
        """
        SELECT count(DISTINCT plan), count(DISTINCT billing_period), count(DISTINCT currency),
               count(trial_ends_at), count(canceled_at), count_if(discount BETWEEN 0.01 AND 0.99),
               count_if(discount = 1) FROM subscriptions""",
    )
    assert (plans, periods, currencies) == (3, 3, 5)
    assert min(trials, canceled, discounted, free) > 0
    # Cancellation takes effect at the end of the paid period, never before it is asked for.
    ((early,),) = sql(ws, "SELECT count(*) FROM subscriptions WHERE ended_at < canceled_at")
    assert early == 0
    ((changed, reactivated),) = sql(
        ws,
        """
        WITH s AS (SELECT account_id, started_at, ended_at,
                   lag(ended_at) OVER (PARTITION BY account_id ORDER BY started_at) AS prev_end
                   FROM subscriptions)
        SELECT count_if(prev_end = started_at), count_if(prev_end < started_at) FROM s""",
    )
    assert changed > 0 and reactivated > 0
    ((refunds, repeaters),) = sql(
        ws,
        """
        SELECT (SELECT count(*) FROM orders WHERE kind = 'refund' AND amount < 0),
               (SELECT count(*) FROM (SELECT account_id FROM orders WHERE kind = 'one_time'
                GROUP BY 1 HAVING count(*) >= 2))""",
    )
    assert refunds > 0 and repeaters > 0


def test_behaviour_is_coherent(demo_ws: tuple[Workspace, demo.DemoResult]) -> None:
    """Churned accounts used the product less, scored lower and called support more."""
    ws, _ = demo_ws
    rows = sql(
        ws,
        """
        WITH life AS (SELECT account_id, min(started_at) AS first, max(coalesce(ended_at, TIMESTAMP '2100-01-01')) AS last
                      FROM subscriptions GROUP BY 1),
        acct AS (SELECT account_id, last < TIMESTAMP '2026-11-01' AS churned,
                        greatest(date_diff('day', first, least(last, TIMESTAMP '2026-11-01')), 1) AS days FROM life),
        usage AS (SELECT account_id, count(*) AS n FROM events WHERE account_id IS NOT NULL GROUP BY 1),
        nps AS (SELECT account_id, avg(score) AS s FROM survey_responses WHERE survey = 'nps' GROUP BY 1),
        load AS (SELECT account_id, count(*) AS n FROM tickets GROUP BY 1)
        SELECT churned, avg(coalesce(usage.n, 0) / days), avg(nps.s), avg(coalesce(load.n, 0) / days)
        FROM acct LEFT JOIN usage USING (account_id) LEFT JOIN nps USING (account_id)
        LEFT JOIN load USING (account_id) GROUP BY churned ORDER BY churned""",
    )
    (_, usage_kept, nps_kept, tickets_kept), (_, usage_lost, nps_lost, tickets_lost) = rows
    assert usage_lost < 0.7 * usage_kept
    assert nps_lost < nps_kept - 1
    assert tickets_lost > tickets_kept


def test_voice_and_support_cover_the_spec(demo_ws: tuple[Workspace, demo.DemoResult]) -> None:
    ws, _ = demo_ws
    assert {
        r[0]
        for r in sql(ws, "SELECT DISTINCT language FROM survey_responses WHERE comment IS NOT NULL")
    } == {"en", "ja", "it", "th"}
    assert {r[0] for r in sql(ws, "SELECT DISTINCT survey FROM survey_responses")} == {
        "nps",
        "csat",
        "ces",
    }
    # Comments match scores: promoters write praise, detractors complaints.
    praise = {good for good, _ in PHRASES["en"].values()}
    complaints = {bad for _, bad in PHRASES["en"].values()}
    for band, allowed in (("score >= 9", praise), ("score <= 6", complaints)):
        found = {
            r[0]
            for r in sql(
                ws,
                f"SELECT DISTINCT comment FROM survey_responses "
                f"WHERE survey = 'nps' AND language = 'en' AND {band}",
            )
        }
        assert found and found <= allowed, band
    statuses = {r[0] for r in sql(ws, "SELECT DISTINCT status FROM tickets")}
    assert statuses == {"open", "resolved", "abandoned"}
    assert {r[0] for r in sql(ws, "SELECT DISTINCT channel FROM tickets")} == {
        "phone",
        "chat",
        "email",
    }
    ((first_contact, reopened),) = sql(
        ws, "SELECT count_if(contacts = 1 AND status = 'resolved'), count(reopened_at) FROM tickets"
    )
    assert first_contact > 0 and reopened > 0
    names = {r[0] for r in sql(ws, "SELECT DISTINCT name FROM events")}
    assert {
        "page_view",
        "feature_used",
        "share",
        "mention",
        "onboarding_step",
        "visit",
        "lead_created",
        "signup",
        "converted_to_paid",
    } <= names
    ((cats,),) = sql(ws, "SELECT count(DISTINCT category) FROM costs")
    assert cats == len(CONTRACTS["costs"].column("category").choices)
