"""Finding 8: whatever a caller types, the API answers a client error (never a 500) and the CLI
prints one line and exits 2 (never a traceback). The inputs the probe found first, then random
filter strings and command lines (Hypothesis)."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.api.deps import RateLimiter
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app as cli

runner = CliRunner()
FOUND = [  # the filters the probe answered with 500
    "NOT 'x'",
    "country = 1",
    "'''",
    "(" * 200 + "country = 'x'" + ")" * 200,
    "seats = 'many'",
    "created_at > 'yesterday'",
    "NOT NOT " * 300 + "country = 'x'",
    "seats > 99999999999999999999999",
    "country LIKE 3",
    "1 = 1",
]


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """An API client with a viewer's key, and a copy of the same store for the CLI (DuckDB opens
    a file once per process)."""
    folder = tmp_path_factory.mktemp("crashes")
    with tenure.connect(f"duckdb:///{folder / 'cli.duckdb'}") as ws:
        demo.build(
            ws, folder / "demo", accounts=60, events=3_000, seed=2, as_of=dt.date(2026, 11, 1)
        )
    shutil.copy(folder / "cli.duckdb", folder / "api.duckdb")
    store = Store(f"sqlite:///{folder / 'app.db'}")
    with tenure.connect(f"duckdb:///{folder / 'api.duckdb'}") as ws:
        app = create_app(ws, store)
        app.state.limiter = RateLimiter(burst=1_000_000, per_minute=1_000_000)
        key = {"Authorization": f"Bearer {create_key(store, 'viewer', 'viewer')}"}
        yield TestClient(app), key, f"duckdb:///{folder / 'cli.duckdb'}"
    store.dispose()


@pytest.mark.parametrize("where", FOUND)
def test_bad_filters_are_client_errors(
    stores: tuple[TestClient, dict[str, str], str], where: str
) -> None:
    client, key, db = stores
    answer = client.get("/api/metrics", params={"names": "mrr", "where": where[:500]}, headers=key)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    result = runner.invoke(cli, ["metrics", "mrr", "--where", where, "--db", db])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") <= 2


def test_repeated_segments_early_periods_and_odd_links_are_client_errors(
    stores: tuple[TestClient, dict[str, str], str],
) -> None:
    client, key, db = stores
    twice = client.get("/api/metrics", params={"names": "mrr", "by": ["plan", "plan"]}, headers=key)
    assert twice.status_code == 400 and "twice" in twice.json()["detail"]
    early = client.get("/api/drill/mrr", params={"period": "0001-01"}, headers=key)
    assert early.status_code == 400 and "outside" in early.json()["detail"]
    assert client.get("/s/é.é").status_code == 404
    assert client.post("/s/é.é", data={"score": "5"}).status_code == 404
    for args in (
        ["metrics", "mrr", "--by", "plan", "--by", "plan"],
        ["drill", "mrr", "--period", "0001-01"],
        ["metrics", "mrr", "--from", "0001-01-01"],
    ):
        result = runner.invoke(cli, [*args, "--db", db])
        assert result.exit_code == 2, (args, result.output, result.exception)


_WORDS = st.sampled_from(
    ["country", "plan", "seats", "created_at", "account_id", "name", "nope", "t.country", "*"]
)
_LITERALS = st.sampled_from(
    ["'x'", "'pro'", "1", "1.5", "-3", "'2025-01-01'", "NULL", "TRUE", "1e999", "''", "'é'"]
)
_OPERATORS = st.sampled_from(
    ["=", "!=", "<", ">=", "AND", "OR", "NOT", "IN", "BETWEEN", "IS", "LIKE", "+", "||", ",", ";"]
)
_PUNCTUATION = st.sampled_from(["(", ")", "'", '"', "[", "]", "--", "/*", "$1", "?"])
TOKENS = st.one_of(_WORDS, _LITERALS, _OPERATORS, _PUNCTUATION, st.text(max_size=4))
FILTERS = st.one_of(
    st.lists(TOKENS, min_size=1, max_size=12).map(" ".join),
    st.tuples(_WORDS, st.sampled_from(["=", "<", "IN", "LIKE", "BETWEEN"]), _LITERALS).map(
        lambda t: f"{t[0]} {t[1]} ({t[2]})" if t[1] == "IN" else " ".join(t)
    ),
)
QUICK = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@QUICK
@given(where=FILTERS)
def test_random_filters_never_fail_the_server(
    stores: tuple[TestClient, dict[str, str], str], where: str
) -> None:
    client, key, _ = stores
    answer = client.get("/api/metrics", params={"names": "mrr", "where": where}, headers=key)
    assert answer.status_code < 500, (where, answer.text)


_VALUES = st.one_of(
    st.sampled_from(
        [
            "2025-03",
            "0001-01",
            "9999-12-31",
            "2025-Q5",
            "day",
            "month",
            "plan",
            "plan",
            "-1",
            "nan",
            "1e999",
            "red",
            "csv",
            "json",
            "",
            "é",
            "mrr",
            "logos",
            "revenue",
            "10000",
        ]
    ),
    FILTERS,
    st.text(max_size=6),
)
_OPTIONS = st.sampled_from(
    [
        "--grain",
        "--from",
        "--to",
        "--by",
        "--where",
        "--period",
        "--window",
        "--as-of",
        "--band",
        "--account",
        "--format",
        "--kind",
    ]
)
COMMANDS = {
    "metrics": ["mrr"],
    "drill": ["mrr", "--period", "2026-03"],
    "cohorts": [],
    "funnel": ["signup", "activated"],
    "health": [],
}


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    command=st.sampled_from(sorted(COMMANDS)),
    options=st.lists(st.tuples(_OPTIONS, _VALUES), max_size=3),
)
def test_random_command_lines_end_in_one_line_not_a_traceback(
    stores: tuple[TestClient, dict[str, str], str], command: str, options: list[tuple[str, str]]
) -> None:
    _, _, db = stores
    args = [command, *COMMANDS[command], *(part for pair in options for part in pair), "--db", db]
    result = runner.invoke(cli, args)
    assert result.exit_code in (0, 1, 2), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert "Traceback" not in result.output, args
