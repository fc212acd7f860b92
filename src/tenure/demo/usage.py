"""Product-usage and web events, generated in vectorised chunks and streamed to Parquet.

Sessions come first (account, user, start), then their events; the number of events is exact.
Healthy accounts use more features and more often; accounts that later churn fade out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tenure.demo.common import DAY, sigmoid, timestamps
from tenure.demo.company import Company

CHUNK_EVENTS = 2_000_000
NAMES = [
    "page_view",
    "feature_used",
    "like",
    "task_completed",
    "content_created",
    "share",
    "mention",
    "scroll_end",
]
NAME_P = [0.55, 0.28, 0.04, 0.05, 0.03, 0.025, 0.01, 0.015]
FEATURES = [
    "dashboards",
    "reports",
    "automations",
    "integrations",
    "exports",
    "api",
    "mobile",
    "ai_assistant",
]
FEATURE_P_HEALTHY = [0.22, 0.2, 0.16, 0.14, 0.1, 0.08, 0.05, 0.05]
FEATURE_P_WEAK = [0.34, 0.28, 0.05, 0.04, 0.14, 0.02, 0.08, 0.05]
PAGES = [
    "/home",
    "/dashboard",
    "/reports",
    "/automations",
    "/settings",
    "/billing",
    "/help",
    "/integrations",
]
PAGE_P = [0.22, 0.25, 0.18, 0.1, 0.08, 0.04, 0.08, 0.05]
WEB_PAGES = ["/", "/pricing", "/features", "/blog/churn-101", "/customers", "/signup"]
SHARE_CHANNELS = ["email", "slack", "linkedin", "x"]
MENTION_CHANNELS = ["x", "linkedin", "reddit", "review_site"]
HOUR_P = np.array(
    [1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 9, 7, 9, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1], float
)
ONBOARDING_STEPS = 5

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("occurred_at", pa.timestamp("us")),
        ("name", pa.string()),
        ("account_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("session_id", pa.string()),
        ("feature", pa.string()),
        ("page", pa.string()),
        ("duration_s", pa.float64()),
        ("properties", pa.string()),
    ]
)


def write_events(
    rng: np.random.Generator,
    company: Company,
    subscriptions: pa.Table,
    total: int,
    path: Path,
    progress: Callable[[int], None],
) -> int:
    fixed = _lifecycle_and_web_events(rng, company, subscriptions, total)
    written = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        table = _assign_ids(fixed, 0)
        writer.write_table(table)
        written += table.num_rows
        progress(table.num_rows)
        session_number = 0
        weights = company.n_users * np.exp(0.6 * company.health)
        weights = weights * np.maximum((company.span_end - company.span_start).astype(np.int64), 0)
        p_account = weights / weights.sum()
        while written < total:
            size = min(CHUNK_EVENTS, total - written)
            table, sessions = _session_chunk(rng, company, p_account, size, session_number)
            session_number += sessions
            table = _assign_ids(table, written)
            writer.write_table(table)
            written += table.num_rows
            progress(table.num_rows)
    return int(written)


def _assign_ids(table: pa.Table, first: int) -> pa.Table:
    numbers = pa.array(np.arange(first + 1, first + table.num_rows + 1))
    event_ids = pc.binary_join_element_wise("E", pc.cast(numbers, pa.string()), "")
    return table.set_column(0, "event_id", event_ids)


def _strings(indices: np.ndarray, labels: list[str], valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~valid
    codes = pa.array(indices.astype(np.int32), pa.int32(), mask=mask)
    return pa.DictionaryArray.from_arrays(codes, pa.array(labels, pa.string())).cast(pa.string())


def _session_chunk(
    rng: np.random.Generator, company: Company, p_account: np.ndarray, size: int, first_session: int
) -> tuple[pa.Table, int]:
    n_sessions = size // 5 + 16
    per_session = 1 + rng.poisson(5, n_sessions)
    cumulative = np.cumsum(per_session)
    last = int(np.searchsorted(cumulative, size))
    per_session = per_session[: last + 1]
    per_session[-1] -= cumulative[last] - size
    n_sessions = len(per_session)

    acc = rng.choice(len(p_account), n_sessions, p=p_account)
    fading = rng.beta(1.0, 2.2, n_sessions)  # dense early, thin late: usage fades before churn
    position = np.where(company.churned[acc], fading, rng.random(n_sessions))
    length = (company.span_end - company.span_start).astype(np.int64)[acc]
    start = company.span_start[acc] + (position * length).astype("timedelta64[s]")
    day = start.astype("datetime64[D]").astype("datetime64[s]")
    hour = rng.choice(24, n_sessions, p=HOUR_P / HOUR_P.sum())
    start = day + (hour * 3600 + rng.integers(0, 3600, n_sessions)).astype("timedelta64[s]")
    start = np.minimum(start, company.span_end[acc] - 3600)
    user = company.user_offset[acc] + (rng.random(n_sessions) * company.n_users[acc]).astype(
        np.int64
    )

    session = np.repeat(np.arange(n_sessions), per_session)
    first_index = np.concatenate([[0], np.cumsum(per_session)[:-1]])
    is_first = np.zeros(size, bool)
    is_first[first_index] = True
    gaps = rng.exponential(45.0, size)
    gaps[is_first] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first_index], per_session)
    occurred = np.minimum(start[session] + elapsed.astype("timedelta64[s]"), company.as_of - 1)
    is_last = np.roll(is_first, -1)
    duration = np.where(is_last, rng.exponential(60.0, size), np.roll(gaps, -1)).round(1)

    name = np.where(is_first, 0, rng.choice(len(NAMES), size, p=NAME_P))
    healthy = company.health[acc[session]] > 0
    feature = np.where(
        healthy,
        rng.choice(len(FEATURES), size, p=FEATURE_P_HEALTHY),
        rng.choice(len(FEATURES), size, p=FEATURE_P_WEAK),
    )
    page = np.where(is_first, 0, rng.choice(len(PAGES), size, p=PAGE_P))
    share = name == NAMES.index("share")
    mention = name == NAMES.index("mention")
    channel_labels = [f'{{"channel": "{c}"}}' for c in SHARE_CHANNELS + MENTION_CHANNELS]
    channel = np.where(
        share,
        rng.integers(0, len(SHARE_CHANNELS), size),
        len(SHARE_CHANNELS) + rng.integers(0, len(MENTION_CHANNELS), size),
    )
    order = np.argsort(occurred, kind="stable")
    session_ids = pc.binary_join_element_wise(
        "S", pc.cast(pa.array(first_session + 1 + session[order]), pa.string()), ""
    )
    account = acc[session][order]
    table = pa.table(
        {
            "event_id": pa.nulls(size, pa.string()),
            "occurred_at": timestamps(occurred[order]),
            "name": _strings(name[order], NAMES),
            "account_id": _strings(account, company.account_ids),
            "user_id": _strings(user[session][order], company.user_ids),
            "anonymous_id": pa.nulls(size, pa.string()),
            "session_id": session_ids,
            "feature": _strings(feature[order], FEATURES, (name == 1)[order]),
            "page": _strings(page[order], PAGES, (name == 0)[order]),
            "duration_s": pa.array(duration[order], pa.float64()),
            "properties": _strings(channel[order], channel_labels, (share | mention)[order]),
        },
        schema=SCHEMA,
    )
    return table, n_sessions


def _lifecycle_and_web_events(
    rng: np.random.Generator, company: Company, subscriptions: pa.Table, total: int
) -> pa.Table:
    """Sign-ups, onboarding steps, trial conversions, and anonymous web visits and leads."""
    n = len(company.created)
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("when", "name", "account", "anon", "page", "step")
    }

    def add(
        when: np.ndarray,
        name: str,
        account: np.ndarray,
        anon: np.ndarray,
        page: str | None,
        step: np.ndarray | None = None,
    ) -> None:
        rows["when"].append(when)
        rows["name"].append(np.full(len(when), name, dtype=object))
        rows["account"].append(account)
        rows["anon"].append(anon)
        rows["page"].append(np.full(len(when), page, dtype=object))
        rows["step"].append(np.zeros(len(when), int) if step is None else step)

    accounts = np.arange(n)
    visitor_of_account = np.arange(n)
    add(company.created - 3 * DAY, "visit", np.full(n, -1), visitor_of_account, "/pricing")
    add(company.created, "signup", accounts, visitor_of_account, "/signup")
    previous = np.ones(n, bool)  # a step is only done after the one before it
    for step in range(1, ONBOARDING_STEPS + 1):
        done = previous & (rng.random(n) < sigmoid(2.2 + 1.1 * company.health - 0.45 * step))
        previous = done
        when = company.created + (step * DAY * rng.uniform(0.3, 1.5, n)).astype("timedelta64[s]")
        keep = done & (when < company.as_of)
        add(
            when[keep],
            "onboarding_step",
            accounts[keep],
            np.full(keep.sum(), -1),
            None,
            np.full(keep.sum(), step),
        )
    trial_end = subscriptions.column("trial_ends_at").to_numpy(zero_copy_only=False)
    ended = subscriptions.column("ended_at").to_numpy(zero_copy_only=False)
    owner = np.array([int(a[1:]) - 1 for a in subscriptions.column("account_id").to_pylist()])
    converted = (
        ~np.isnat(trial_end) & (np.isnat(ended) | (ended > trial_end)) & (trial_end < company.as_of)
    )
    add(
        trial_end[converted].astype("datetime64[s]"),
        "converted_to_paid",
        owner[converted],
        np.full(converted.sum(), -1),
        "/billing",
    )

    visitors = max(1, int(total * 0.04))
    span = (company.as_of - company.start).astype(np.int64)
    when = company.start + (rng.random(visitors) * span).astype("timedelta64[s]")
    anon = n + np.arange(visitors)
    add(when, "visit", np.full(visitors, -1), anon, None)
    leads = rng.random(visitors) < 0.12
    add(when[leads] + 600, "lead_created", np.full(leads.sum(), -1), anon[leads], "/signup")

    merged = {k: np.concatenate(v) for k, v in rows.items()}
    keep = merged["when"] < company.as_of
    order = np.argsort(merged["when"][keep], kind="stable")[: max(0, total // 2)]
    sel = {k: v[keep][order] for k, v in merged.items()}
    count = len(order)
    acc, anon_ids = sel["account"], sel["anon"]
    web_page = np.where(sel["name"] == "visit", rng.choice(len(WEB_PAGES), count), -1)
    page = np.where(
        web_page >= 0, np.array(WEB_PAGES, dtype=object)[np.maximum(web_page, 0)], sel["page"]
    )
    first_user = company.user_offset[np.maximum(acc, 0)]
    return pa.table(
        {
            "event_id": pa.nulls(count, pa.string()),
            "occurred_at": timestamps(sel["when"]),
            "name": pa.array(sel["name"].tolist(), pa.string()),
            "account_id": _strings(np.maximum(acc, 0), company.account_ids, acc >= 0),
            "user_id": _strings(first_user, company.user_ids, acc >= 0),
            "anonymous_id": pa.array(
                [f"anon{a}" if a >= 0 else None for a in anon_ids], pa.string()
            ),
            "session_id": pa.nulls(count, pa.string()),
            "feature": pa.nulls(count, pa.string()),
            "page": pa.array(page.tolist(), pa.string()),
            "duration_s": pa.nulls(count, pa.float64()),
            "properties": pa.array(
                [f'{{"step": {s}}}' if s else None for s in sel["step"]], pa.string()
            ),
        },
        schema=SCHEMA,
    )
