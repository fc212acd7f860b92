"""Benchmark: a live `tenure serve` under dashboard load while CLI loads run through it.

Builds the demo company (20,000 accounts, 10M events by default) with the CLI, trains churn,
starts `tenure serve` and replays the API calls each dashboard page makes (as app.js makes them
with the default pickers): once cold right after start, then warm with one client and no writes
(the baseline), then with `--clients` concurrent clients for `--seconds` while a 10,000-event load
and a 1,000-account update are forwarded to the server by `tenure load` in other processes.
Prints p50/p95/max per page call, the ratio of the loaded warm p95 to the single-client warm p95
per page view, errors, the server's peak RSS, and PASS/FAIL against the targets.

Under load a call is warm when the server answered from its cache (or the route never caches) and
cold when it computed the answer because a write had renewed it, or waited for that computation;
the server says which in its X-Tenure-Cache header. The warm target is on warm calls; cold ones
are reported beside them, and the Accounts list target counts both.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq

TARGET_MS = 300.0
PAGE_NAMES = [
    "overview",
    "revenue",
    "retention",
    "engagement",
    "voice",
    "support",
    "goals",
    "accounts",
    "account",
]
KPIS = [
    "mrr",
    "arr",
    "nrr",
    "grr",
    "customer_churn_rate",
    "customer_retention_rate",
    "arpa",
    "clv_subscription",
    "nps",
    "csat",
    "ces",
    "stickiness",
    "fcr",
]
FUNNEL = ["visit", "signup", "onboarding_step", "converted_to_paid"]
ACCOUNTS_LIST = "/api/accounts"
# One request: (label shown in the report, path, query parameters in app.js's order).
Params = list[tuple[str, str | int | float | bool | None]]
Call = tuple[str, str, Params]


# -- the page call table --------------------------------------------------------------------------
def picker_range(today: dt.date) -> tuple[str, str, str]:
    """app.js `range()` with no query string: the last full month and the eleven before it, and
    the end of that last month (what the Voice page sends as `to` for surveys)."""
    last = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    first_month = last.year * 12 + last.month - 1 - 11
    first = dt.date(first_month // 12, first_month % 12 + 1, 1)
    end = (last + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first.isoformat(), last.isoformat(), end.isoformat()


def page_calls(today: dt.date, account_id: str, goal_ids: list[int]) -> dict[str, list[Call]]:
    """Every API call each dashboard page makes, in order, as app.js sends them by default (empty
    `by` and `where` are left out, as app.js leaves out empty values)."""
    start, to, end = picker_range(today)

    def metrics(names: list[str]) -> Params:
        return [
            *(("names", n) for n in names),
            ("from", start),
            ("to", to),
            ("grain", "month"),
            ("limit", 10000),
        ]

    def distribution(survey: str) -> Call:
        params: Params = [("survey", survey), ("from", start), ("to", end)]
        return (f"survey distribution {survey}", "/api/surveys/distribution", params)

    account = f"/api/accounts/{account_id}"
    return {
        "overview": [("metrics: 13 KPIs", "/api/metrics", metrics(KPIS))],
        "revenue": [
            ("metrics: MRR and moves", "/api/metrics", metrics(["mrr", *_moves(first=True)])),
            ("metrics: MRR moves", "/api/metrics", metrics(_moves(first=False))),
        ],
        "retention": [
            (
                "metrics: churn, retention",
                "/api/metrics",
                metrics(["customer_churn_rate", "customer_retention_rate"]),
            ),
            ("cohorts", "/api/cohorts", [("from", start), ("to", to)]),
            ("survival", "/api/survival", []),
        ],
        "engagement": [
            (
                "metrics: DAU..sessions",
                "/api/metrics",
                metrics(["dau", "wau", "mau", "stickiness", "average_session_seconds"]),
            ),
            (
                "funnel",
                "/api/funnel",
                [*(("steps", s) for s in FUNNEL), ("window", 30), ("from", start), ("to", to)],
            ),
            (
                "metrics: feature adoption",
                "/api/metrics",
                [("names", "feature_adoption_rate"), ("by", "feature"), ("from", to), ("to", to)],
            ),
        ],
        "voice": [
            ("metrics: NPS, CSAT, CES", "/api/metrics", metrics(["nps", "csat", "ces"])),
            *(distribution(s) for s in ("nps", "csat", "ces")),
            (
                "survey response rates",
                "/api/surveys/response-rates",
                [("from", start), ("to", end)],
            ),
            ("feedback", "/api/feedback", [("from", start), ("to", to), ("limit", 50)]),
        ],
        "support": [
            (
                "metrics: support",
                "/api/metrics",
                metrics(
                    [
                        "fcr",
                        "resolution_hours_median",
                        "resolution_hours_p90",
                        "first_response_hours_median",
                    ]
                ),
            )
        ],
        "goals": [
            ("goals", "/api/goals", [("limit", 500)]),
            *(("goal history", f"/api/goals/{g}/history", []) for g in goal_ids),
        ],
        # app.js asks `/api/accounts?limit=500` today; the worklist's call once the route reads the
        # account snapshot with paging and sorting is this one (the old route ignores sort/order).
        "accounts": [
            (
                "accounts list (50, by churn risk)",
                ACCOUNTS_LIST,
                [("limit", 50), ("sort", "churn_probability"), ("order", "desc")],
            )
        ],
        "account": [("account", account, []), ("account timeline", f"{account}/timeline", [])],
    }


def _moves(first: bool) -> list[str]:
    """Revenue asks for MRR with the moves in one order, then the moves alone in another."""
    if first:
        return ["mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned", "mrr_reactivation"]
    return ["mrr_new", "mrr_expansion", "mrr_reactivation", "mrr_contraction", "mrr_churned"]


# -- measurements -------------------------------------------------------------------------------
@dataclass
class Sample:
    page: str
    label: str
    started: float
    seconds: float
    error: str | None
    cache: str = ""  # X-Tenure-Cache: hit, shared or miss; empty for a route that never caches

    @property
    def cold(self) -> bool:
        """Computed for this request, or waited for another's computation of it."""
        return self.cache in ("miss", "shared")


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    views: list[tuple[str, float]] = field(default_factory=list)  # (page, seconds) per page view
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, samples: list[Sample], page: str, seconds: float) -> None:
        with self.lock:
            self.samples.extend(samples)
            if all(s.error is None for s in samples):
                self.views.append((page, seconds))


def request(client: httpx.Client, path: str, params: Params) -> tuple[float, str | None, str]:
    """Seconds, error (None when it succeeded) and how the server made the answer."""
    started = time.perf_counter()
    cache = ""
    try:
        response = client.get(path, params=params)
        response.read()
        error = None if response.is_success else f"{response.status_code} {response.text[:200]}"
        cache = response.headers.get("x-tenure-cache", "")
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - started, error, cache


def view(client: httpx.Client, page: str, calls: list[Call], recorder: Recorder) -> None:
    """One page view: the page's calls one after the other, as the browser awaits most of them
    (the Account page's two calls and the goal histories are concurrent in the browser; one after
    the other here, so those page times are an upper bound)."""
    samples = []
    started = time.perf_counter()
    for label, path, params in calls:
        at = time.perf_counter()
        seconds, error, cache = request(client, path, params)
        samples.append(Sample(page, label, at, seconds, error, cache))
    recorder.add(samples, page, time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def stats(values: list[float]) -> str:
    if not values:
        return f"{'-':>5} {'-':>7} {'-':>7} {'-':>7}"
    ms = [v * 1000 for v in values]
    return f"{len(ms):5d} {percentile(ms, 0.5):7.0f} {percentile(ms, 0.95):7.0f} {max(ms):7.0f}"


# -- the store, the server, the writes ----------------------------------------------------------
def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tenure.cli", *args]


def run(argv: list[str], what: str) -> str:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    print(f"  {what}: {time.perf_counter() - started:8.1f} s", flush=True)
    return done.stdout


def build_store(folder: Path, db: str, accounts: int, events: int) -> None:
    """Build the demo store unless the folder already holds one of these sizes."""
    stamp = folder / "bench-store.json"
    wanted = {"accounts": accounts, "events": events}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        print(f"  reusing the store in {folder}", flush=True)
        return
    stamp.unlink(missing_ok=True)
    (folder / "tenure.duckdb").unlink(missing_ok=True)
    (folder / "tenure.duckdb.wal").unlink(missing_ok=True)
    out = str(folder / "demo-data")
    run(
        cli("demo", "--accounts", str(accounts), "--events", str(events), "--db", db, "--out", out),
        "demo build and load",
    )
    run(cli("churn", "train", "--db", db), "churn train")
    stamp.write_text(json.dumps(wanted))


def write_extra_files(folder: Path, run_id: str, day: dt.date) -> tuple[Path, Path, str, str, int]:
    """10,000 new page views on `day` by demo users, and 1,000 demo accounts with a new owner;
    the page and owner names are new in every run, so a reused store shows them only if loaded."""
    page, owner = f"/bench-load-{run_id}", f"Bench Owner {run_id}"
    con = duckdb.connect()
    users = con.execute(
        "SELECT user_id, account_id FROM read_parquet(?) WHERE account_id IS NOT NULL "
        "ORDER BY user_id",
        [str(folder / "demo-data" / "users.parquet")],
    ).fetchall()
    rng = random.Random(run_id)
    picked = [rng.choice(users) for _ in range(10_000)]
    midnight = dt.datetime.combine(day, dt.time())
    events = pa.table(
        {
            "event_id": [f"EB{run_id}-{i}" for i in range(len(picked))],
            "occurred_at": [midnight + dt.timedelta(seconds=rng.randrange(86_400)) for _ in picked],
            "name": ["page_view"] * len(picked),
            "account_id": [a for _, a in picked],
            "user_id": [u for u, _ in picked],
            "session_id": [f"SB{run_id}-{i // 10}" for i in range(len(picked))],
            "page": [page] * len(picked),
            "duration_s": [round(rng.uniform(2, 90), 1) for _ in picked],
        }
    )
    events_path = folder / "extra-events.parquet"
    pq.write_table(events, events_path)
    frame = con.execute(
        "SELECT * FROM read_parquet(?) ORDER BY account_id",
        [str(folder / "demo-data" / "accounts.parquet")],
    ).df()
    chosen = frame.iloc[:: max(1, len(frame) // 1000)].head(1000).copy()
    chosen["owner"] = owner
    accounts_path = folder / "updated-accounts.csv"
    chosen.to_csv(accounts_path, index=False)
    return events_path, accounts_path, page, owner, len(chosen)


@dataclass
class Write:
    what: str
    started: float = 0.0
    seconds: float = 0.0
    code: int | None = None
    output: str = ""


def writer(db: str, files: list[tuple[str, Path]], delay: float, done: list[Write]) -> None:
    """After `delay`, each load through the CLI (forwarded to the server), one after the other."""
    time.sleep(delay)
    for table, path in files:
        write = Write(f"tenure load {table} {path.name}", started=time.perf_counter())
        result = subprocess.run(
            cli("load", table, str(path), "--db", db),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        write.seconds = time.perf_counter() - write.started
        write.code, write.output = result.returncode, (result.stdout + result.stderr).strip()
        print(f"  {write.what}: exit {write.code} after {write.seconds:.1f} s", flush=True)
        done.append(write)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, server: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"no answer from {url} within {seconds:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def first_accounts_view(client: httpx.Client, recorder: Recorder, seconds: float) -> list[str]:
    """The cold Accounts page, retried while the server answers 503 (its snapshot is being
    built); recorded as one view lasting until the list came. The ids of the listed accounts."""
    label, path, params = page_calls(dt.date.today(), "-", [])["accounts"][0]
    started = time.perf_counter()
    deadline = time.monotonic() + seconds
    waits = 0
    while True:
        response = client.get(path, params=params)
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        waits += 1
        time.sleep(1)
    elapsed = time.perf_counter() - started
    error = None if response.is_success else f"{response.status_code} {response.text[:200]}"
    recorder.add([Sample("accounts", label, started, elapsed, error)], "accounts", elapsed)
    print(f"  first Accounts list: {elapsed:8.1f} s ({waits} answers 503 before it)", flush=True)
    response.raise_for_status()
    return [str(r["account_id"]) for r in response.json()["items"]]


def warm_views(
    client: httpx.Client,
    today: dt.date,
    ids: list[str],
    goal_ids: list[int],
    runs: int,
    budget: float,
) -> Recorder:
    """Each page viewed `runs` times by one client, or as often as fits in `budget` seconds
    (at least once): slow pages would otherwise take the whole run."""
    warm = Recorder()
    for page in PAGE_NAMES:
        ends = time.monotonic() + budget
        for i in range(runs):
            if i and time.monotonic() > ends:
                break
            view(client, page, page_calls(today, ids[i % len(ids)], goal_ids)[page], warm)
    return warm


# -- the run --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warm-runs", type=int, default=5, help="single-client views per page")
    parser.add_argument(
        "--warm-budget", type=float, default=20, help="seconds of single-client views per page"
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path(tempfile.gettempdir()) / "tenure-bench-serve",
        help="work folder; a store built there before with the same sizes is reused",
    )
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args()
    folder = args.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    db, app_db = f"duckdb:///{folder / 'tenure.duckdb'}", f"sqlite:///{folder / 'app.db'}"
    print(f"serve load: {args.accounts:,} accounts, {args.events:,} events, {args.clients} clients")
    build_store(folder, db, args.accounts, args.events)
    # One key per client, as each member of a CS team has their own (rate limits are per key).
    keys = [
        run(
            cli("keys", "create", f"bench-{n}", "--role", "admin", "--app-db", app_db), "key"
        ).strip()
        for n in range(max(1, args.clients))
    ]
    today = dt.date.today()
    run_id = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    events_path, accounts_path, new_page, new_owner, updated = write_extra_files(
        folder, run_id, today - dt.timedelta(days=8)
    )
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("wb")
    started = time.perf_counter()
    server = subprocess.Popen(
        cli("serve", "--port", str(port), "--db", db, "--app-db", app_db),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(base + "/health", server, 300)
        print(f"  server up:          {time.perf_counter() - started:8.1f} s (pid {server.pid})")
        return measure(
            args,
            base,
            keys,
            server,
            db,
            (events_path, accounts_path),
            (new_page, new_owner, updated),
        )
    finally:
        stop(server)
        log.close()


def client_for(base: str, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(120)
    )


def measure(
    args: argparse.Namespace,
    base: str,
    keys: list[str],
    server: subprocess.Popen[bytes],
    db: str,
    files: tuple[Path, Path],
    expected: tuple[str, str, int],
) -> int:
    """Cold, warm single-client and loaded phases; then the report."""
    today = dt.date.today()
    events_path, accounts_path = files
    new_page, new_owner, updated = expected
    key = keys[0]
    with client_for(base, key) as one:
        # First views: the Accounts list first (it gives the account ids), then the others.
        cold = Recorder()
        ids = first_accounts_view(one, cold, 600)
        goal_ids = ensure_goals(one, today)
        pages = page_calls(today, ids[0], goal_ids)
        for page in PAGE_NAMES:
            if page != "accounts":
                view(one, page, pages[page], cold)
        warm = warm_views(one, today, ids, goal_ids, args.warm_runs, args.warm_budget)
        print("  cold and warm single-client views done", flush=True)
        before = verify(one, today, new_page, new_owner)

    loaded = Recorder()
    writes: list[Write] = []
    delay = min(10.0, args.seconds / 6)
    write_thread = threading.Thread(
        target=writer,
        args=(db, [("events", events_path), ("accounts", accounts_path)], delay, writes),
        daemon=True,
    )
    deadline = time.monotonic() + args.seconds

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        with client_for(base, keys[seed % len(keys)]) as client:
            for _ in range(1_000_000):  # bounded; the deadline ends it long before
                if time.monotonic() >= deadline:
                    return
                page = rng.choice(PAGE_NAMES)
                view(client, page, page_calls(today, rng.choice(ids), goal_ids)[page], loaded)

    print(
        f"  {args.clients} clients for {args.seconds:.0f} s, CLI loads after {delay:.0f} s",
        flush=True,
    )
    load_started = time.perf_counter()
    # Where the machine's CPU went in the loaded phase: the server, these client threads, and
    # the CLI loads (children of this process, counted once they exit).
    cpu_before = (
        cpu_seconds(server.pid),
        own_cpu_seconds(resource.RUSAGE_SELF),
        own_cpu_seconds(resource.RUSAGE_CHILDREN),
    )
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(args.clients)]
    write_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load_seconds = time.perf_counter() - load_started
    write_thread.join(timeout=900)
    cpu = (
        cpu_seconds(server.pid) - cpu_before[0],
        own_cpu_seconds(resource.RUSAGE_SELF) - cpu_before[1],
        own_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before[2],
    )

    with client_for(base, key) as one:
        after = verify(one, today, new_page, new_owner)
    rss = peak_rss_mb(server.pid)
    return report(args, cold, warm, loaded, writes, load_seconds, before, after, rss, updated, cpu)


def ensure_goals(client: httpx.Client, today: dt.date) -> list[int]:
    """A few goals, so the Goals page makes its history calls as it would in use."""
    goals = client.get("/api/goals", params={"limit": 500}).json()["items"]
    for name, metric in [("NRR 105", "nrr"), ("GRR 92", "grr"), ("Churn under 2%", None)][
        len(goals) :
    ]:
        body: dict[str, Any] = {
            "name": name,
            "kind": "metric" if metric else "number",
            "start_value": 0,
            "target_value": 100,
            "start_date": (today - dt.timedelta(days=90)).isoformat(),
            "due_date": (today + dt.timedelta(days=90)).isoformat(),
        }
        if metric:
            body["metric"] = metric
        else:
            body["current_value"] = 40
        client.post("/api/goals", json=body).raise_for_status()
    return [int(g["id"]) for g in client.get("/api/goals", params={"limit": 500}).json()["items"]]


def verify(client: httpx.Client, today: dt.date, page: str, owner: str) -> tuple[float, int]:
    """The new page's views on its day (from the metrics API) and the accounts with the new
    owner (from the accounts export)."""
    day = (today - dt.timedelta(days=8)).isoformat()
    body = client.get(
        "/api/metrics",
        params=[
            ("names", "page_views"),
            ("by", "page"),
            ("grain", "day"),
            ("from", day),
            ("to", day),
            ("limit", 10000),
        ],
    ).json()
    views = sum(float(r["value"] or 0) for r in body["items"] if r.get("page") == page)
    text = client.get("/api/export/accounts").text
    owners = sum(1 for row in csv.DictReader(io.StringIO(text)) if row.get("owner") == owner)
    return views, owners


def report(
    args: argparse.Namespace,
    cold: Recorder,
    warm: Recorder,
    loaded: Recorder,
    writes: list[Write],
    load_seconds: float,
    before: tuple[float, int],
    after: tuple[float, int],
    rss: float | None,
    updated: int,
    cpu: tuple[float, float, float],
) -> int:
    def by_call(recorder: Recorder, cold: bool | None = None) -> dict[tuple[str, str], list[float]]:
        """Seconds of the successful calls, by page and call; only the cold (or only the warm)
        ones when `cold` says which."""
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        for s in recorder.samples:
            if s.error is None and (cold is None or s.cold == cold):
                groups[(s.page, s.label)].append(s.seconds)
        return groups

    def by_page(recorder: Recorder) -> dict[str, list[float]]:
        groups: dict[str, list[float]] = defaultdict(list)
        for page, seconds in recorder.views:
            groups[page].append(seconds)
        return groups

    c, w, lo = by_call(cold), by_call(warm), by_call(loaded)
    hot, recomputed = by_call(loaded, cold=False), by_call(loaded, cold=True)
    everything = [s for r in (cold, warm, loaded) for s in r.samples]
    failed = Counter((s.page, s.label) for s in everything if s.error is not None)
    print(
        "per call, ms:          first |   warm, 1 client, no writes |"
        f"  {args.clients} clients + CLI loads, {load_seconds:.0f} s: warm (served from the cache"
        " or never cached) | cold (computed after a write renewed it)"
    )
    head = f"{'n':>5} {'p50':>7} {'p95':>7} {'max':>7}"
    print(f"{'page':10} {'call':34} {'first':>6} | {head} | {head} | {head} | errors")
    failures: list[str] = []
    for page in PAGE_NAMES:
        labels = dict.fromkeys(s.label for s in everything if s.page == page)
        for label in labels:
            key = (page, label)
            first = f"{c[key][0] * 1000:6.0f}" if key in c else f"{'-':>6}"
            row = (
                f"{page:10} {label[:34]:34} {first} | {stats(w[key])} | {stats(hot[key])} | "
                f"{stats(recomputed[key])}"
            )
            print(f"{row} | {failed[key]:6d}")
            if not hot[key] or percentile(hot[key], 0.95) * 1000 >= TARGET_MS:
                failures.append(f"{page}: {label}")
    every = [v for values in lo.values() for v in values]
    print(f"  all calls under load, warm and cold: {stats(every)}  (n p50 p95 max, ms)")
    wp, lp = by_page(warm), by_page(loaded)
    print("\nper page view (its calls in sequence), ms: warm 1 client | under load | p95 ratio")
    for page in PAGE_NAMES:
        ratio = (
            f"{percentile(lp[page], 0.95) / percentile(wp[page], 0.95):5.1f}x"
            if lp[page] and wp[page]
            else "-"
        )
        print(f"  {page:10} {stats(wp[page])} | {stats(lp[page])} | {ratio}")
    total = len(loaded.samples)
    print(
        f"\nrequests under load: {total:,} in {load_seconds:.0f} s "
        f"({total / max(load_seconds, 1e-9):.1f}/s)"
    )
    writing = [(wr.started, wr.started + wr.seconds) for wr in writes]
    during = [
        s.seconds
        for s in loaded.samples
        if s.error is None and any(a <= s.started <= b for a, b in writing)
    ]
    if during:
        print(f"  calls while a CLI load ran:      {stats(during)}  (n p50 p95 max, ms)")
    errors = [s for s in everything if s.error is not None]
    print(f"errors: {len(errors)}")
    for s in errors[:5]:
        print(f"  {s.page} / {s.label}: {s.error}")
    for wr in writes:
        print(f"{wr.what}: exit {wr.code}, {wr.seconds:.1f} s")
        if wr.code:
            print("  " + wr.output[-1500:].replace("\n", "\n  "))
    print(f"server peak RSS (VmHWM): {rss:,.0f} MB" if rss else "server peak RSS: unknown")
    server_cpu, client_cpu, loads_cpu = cpu
    print(
        f"CPU in the loaded phase ({os.cpu_count()} cores x {load_seconds:.0f} s): server "
        f"{server_cpu:.0f} s, the {args.clients} client threads {client_cpu:.0f} s, the CLI "
        f"loads {loads_cpu:.0f} s"
    )

    accounts_list = [v for (p, _), v in lo.items() if p == "accounts"]  # warm and cold
    accounts_p95 = percentile(accounts_list[0], 0.95) * 1000 if accounts_list else float("inf")
    loads_ok = len(writes) == 2 and all(wr.code == 0 for wr in writes)
    checks = [
        ("0 errors", not errors, f"{len(errors)} errors"),
        (
            f"warm p95 < {TARGET_MS:.0f} ms for every page's calls under load",
            not failures,
            "over: " + ", ".join(failures) if failures else "all under",
        ),
        (
            f"Accounts list p95 < {TARGET_MS:.0f} ms under load (warm and cold)",
            accounts_p95 < TARGET_MS,
            f"{accounts_p95:.0f} ms",
        ),
        (
            "the CLI loads finish (exit 0)",
            loads_ok,
            ", ".join(f"{wr.what.split()[2]} {wr.code}" for wr in writes) or "did not run",
        ),
        (
            "the 10,000 events are visible (page_views of the new page on its day)",
            before[0] == 0 and after[0] == 10_000,
            f"{before[0]:.0f} before, {after[0]:.0f} after",
        ),
        (
            f"the {updated:,} account updates are visible (accounts export, new owner)",
            before[1] == 0 and after[1] == updated,
            f"{before[1]} before, {after[1]} after",
        ),
    ]
    print("\ntargets:")
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
