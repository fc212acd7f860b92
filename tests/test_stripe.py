"""The Stripe connector, through the real `stripe` client against a local Stripe-protocol server:
the demo company round-trips to the cent, syncs are idempotent and resumable, rate limits are
waited out, keys stay secret; and the history transform, case by case."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import tenure
from tenure import demo
from tenure.data.contract import LOAD_ORDER
from tenure.demo.exporters import stripe as exporter
from tenure.errors import TenureError
from tenure.metrics.revenue_catalog import REVENUE_METRICS
from tenure.sources import staging, sync
from tenure.sources import stripe as connector
from tenure.sources.stripe import StripeConnector
from tests.stripe_server import StripeServer

KEY = "sk_test_51TenureLocalOnly0123456789abcdef"
AS_OF = dt.date(2026, 6, 15)
STRIPE_TABLES = ("accounts", "subscriptions", "orders")


def _generate(tmp: Path, accounts: int) -> tuple[demo.DemoResult, dict[str, list[dict[str, Any]]]]:
    result = demo.generate(tmp, accounts=accounts, events=1000, seed=11, as_of=AS_OF)
    tables = {t: pq.read_table(result.paths[t]).to_pandas() for t in STRIPE_TABLES}
    return result, exporter.stripe_objects(tables, dt.datetime.combine(AS_OF, dt.time()))


@contextlib.contextmanager
def _workspace(path: Path, result: demo.DemoResult, tables: tuple[str, ...]) -> Iterator[Any]:
    with tenure.connect(f"duckdb:///{path}") as ws:
        for table in LOAD_ORDER:
            if table in tables:
                ws.load(table, result.paths[table])
        yield ws


def _sync(ws: Any, server: StripeServer, **options: str) -> sync.SyncReport:
    options = {"base_url": server.url, "account_key": "metadata:account_id", **options}
    return sync.run(connector.build(options, KEY), "stripe", lambda: contextlib.nullcontext(ws))


def _rows(ws: Any, table: str) -> list[tuple[Any, ...]]:
    return ws.duckdb.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


# -- round trip -------------------------------------------------------------------------------------
# Metrics whose inputs Stripe cannot carry; none so far (fx rates, users, costs, tickets come
# from the demo in both workspaces, so the metrics that read them compare too).
EXCLUDED: dict[str, str] = {}


def test_the_demo_company_round_trips_through_stripe_to_the_cent(tmp_path):
    result, objects = _generate(tmp_path / "demo", accounts=250)
    other = tuple(t for t in LOAD_ORDER if t not in STRIPE_TABLES and t != "events")
    server = StripeServer(objects, KEY, inline_lines=1)  # every multi-line invoice pages its lines
    with (
        _workspace(tmp_path / "direct.duckdb", result, (*other, *STRIPE_TABLES)) as direct,
        _workspace(tmp_path / "synced.duckdb", result, other) as synced,
        server.running(),
    ):
        report = _sync(synced, server)
        assert report.rejected == 0
        speed = report.records / report.seconds
        print(f"\nStripe sync: {report.records} records in {report.seconds:.1f} s = {speed:.0f}/s")
        names = [m.name for m in REVENUE_METRICS if m.name not in EXCLUDED]
        since = dt.date(AS_OF.year - 3, AS_OF.month, 1)  # the demo's whole history
        want = direct.metrics(names, start=since, end=AS_OF)
        got = synced.metrics(names, start=since, end=AS_OF)
    key = ["metric", "period_start"]
    merged = want.merge(got, on=key, how="outer", suffixes=("_want", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all()
    assert set(merged["metric"]) == set(names)

    def same(a: Any, b: Any) -> bool:
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
            return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
        return abs(float(a) - float(b)) < 0.005  # to the cent (and to 0.005 for ratios)

    wrong = merged[
        [not same(a, b) for a, b in zip(merged.value_want, merged.value_got, strict=True)]
    ]
    assert wrong.empty, wrong[[*key, "value_want", "value_got"]].head(20).to_string()
    mrr = merged[merged.metric == "mrr"]
    assert (mrr.value_want.astype(float) > 0).sum() > 30  # the comparison covers years of revenue


# -- idempotence, resumption, rate limits, secrets ------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("small"), accounts=40)


@pytest.fixture(scope="module")
def reference(small, tmp_path_factory):
    """The three Stripe tables after one clean sync of the small company."""
    result, objects = small
    server = StripeServer(objects, KEY, inline_lines=1)
    path = tmp_path_factory.mktemp("ref") / "w.duckdb"
    with _workspace(path, result, ("fx_rates",)) as ws, server.running():
        first = _sync(ws, server)
        again = _sync(ws, server)
        return first, again, {t: _rows(ws, t) for t in STRIPE_TABLES}


def test_a_second_sync_changes_nothing(reference):
    first, again, tables = reference
    assert first.rejected == 0 and len(tables["subscriptions"]) > 40
    assert again.pulled["invoices"] > 0  # the lookback window is pulled again ...
    for table in STRIPE_TABLES:  # ... and merges as unchanged
        assert again.loads[table].inserted == again.loads[table].updated == 0
        assert again.loads[table].unchanged == first.loads[table].inserted


@pytest.mark.parametrize("failure", ["drop", "error"])
def test_a_sync_interrupted_half_way_resumes_to_the_same_result(
    small, reference, tmp_path, failure
):
    result, objects = small
    server = StripeServer(objects, KEY, inline_lines=1)
    with _workspace(tmp_path / "w.duckdb", result, ("fx_rates",)) as ws, server.running():
        total = reference[0].records
        server.fail_after, server.failure = 12, failure
        with pytest.raises(TenureError, match="Stripe"):
            _sync(ws, server, max_retries="1")
        staged = sum(staging.counts(ws.duckdb, "stripe").values())
        assert 0 < staged < total
        server.fail_after = None
        resumed = _sync(ws, server)
        assert resumed.records < total  # it went on from the staged pages
        assert {t: _rows(ws, t) for t in STRIPE_TABLES} == reference[2]


def test_rate_limits_are_waited_out(small, reference, tmp_path):
    result, objects = small
    server = StripeServer(objects, KEY, inline_lines=1)
    with _workspace(tmp_path / "w.duckdb", result, ("fx_rates",)) as ws, server.running():
        server.rate_limit_every, server.retry_after = 4, 0
        _sync(ws, server)  # the client retries 429s that say Stripe-Should-Retry: true
        retried_by_client = server.rate_limited
        assert retried_by_client >= 3
        staging.forget(ws.duckdb, "stripe")
        server.should_retry = False  # the connector waits Retry-After itself
        waits: list[float] = []
        quiet = StripeConnector(
            KEY, base_url=server.url, account_key="metadata:account_id", sleep=waits.append
        )
        sync.run(quiet, "stripe", lambda: contextlib.nullcontext(ws))
        assert server.rate_limited > retried_by_client and waits == [0.0] * len(waits) != []
        assert {t: _rows(ws, t) for t in STRIPE_TABLES} == reference[2]


def test_the_api_key_never_appears_in_an_error(small, tmp_path):
    _, objects = small
    server = StripeServer(objects, KEY)
    wrong = "sk_test_51WrongKeyThatMustNotLeak9876543210"
    with tenure.connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as ws, server.running():
        bad = connector.build({"base_url": server.url}, wrong)
        with pytest.raises(TenureError) as caught:
            sync.run(bad, "stripe", lambda: contextlib.nullcontext(ws))
    assert "401" in str(caught.value) and "AuthenticationError" in str(caught.value)
    assert wrong not in str(caught.value) and wrong[-8:] not in str(caught.value)
    assert wrong not in repr(bad)
    with pytest.raises(TenureError) as missing:
        connector.build({}, None)
    assert connector.SECRET_ENV in str(missing.value)


def test_build_checks_its_options():
    with pytest.raises(TenureError, match="unknown Stripe option"):
        connector.build({"api_base": "x"}, KEY)
    with pytest.raises(TenureError, match="account_key"):
        connector.build({"account_key": "email"}, KEY)
    with pytest.raises(TenureError, match="page_size"):
        connector.build({"page_size": "500"}, KEY)
    assert "base_url" in connector.OPTIONS


# -- the history transform, case by case ---------------------------------------------------------
DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01 UTC


def month(n: int) -> int:
    return exporter.add_months(T0, n)


def price(
    pid: str,
    unit: int,
    *,
    currency: str = "usd",
    interval: str = "month",
    count: int = 1,
    usage: str = "licensed",
    product: str = "prod_pro",
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "currency": currency,
        "unit_amount": unit,
        "billing_scheme": "per_unit",
        "product": product,
        "nickname": None,
        "recurring": {"interval": interval, "interval_count": count, "usage_type": usage},
    }


class Book:
    """Hand-written Stripe objects for one customer."""

    def __init__(self) -> None:
        self.prices = {
            p["id"]: p
            for p in (
                price("p10", 1000),
                price("p25", 2500),
                price("pjpy", 1500, currency="jpy"),
                price("pyear", 120000, interval="year"),
                price("pmeter", 5, usage="metered"),
            )
        }
        self.coupons: dict[str, dict[str, Any]] = {}
        self.invoices: list[dict[str, Any]] = []
        self.subs: list[dict[str, Any]] = []
        self.n = 0

    def coupon(
        self,
        cid: str,
        duration: str,
        *,
        percent: float | None = None,
        amount: int | None = None,
        months: int | None = None,
    ) -> dict[str, Any]:
        self.coupons[cid] = {
            "id": cid,
            "object": "coupon",
            "duration": duration,
            "duration_in_months": months,
            "percent_off": percent,
            "amount_off": amount,
        }
        return {
            "id": f"di_{cid}",
            "object": "discount",
            "source": {"coupon": cid, "type": "coupon"},
        }

    def line(
        self,
        sub: str,
        pid: str,
        qty: int,
        start: int,
        end: int,
        *,
        amount: int | None = None,
        proration: bool = False,
        discount: dict[str, Any] | None = None,
        item: str = "si_1",
    ) -> dict[str, Any]:
        self.n += 1
        unit = self.prices[pid]["unit_amount"]
        return {
            "id": f"il_{self.n}",
            "object": "line_item",
            "amount": unit * qty if amount is None else amount,
            "currency": self.prices[pid]["currency"],
            "discount_amounts": [],
            "discounts": [discount] if discount else [],
            "quantity": qty,
            "period": {"start": start, "end": end},
            "pricing": {
                "type": "price_details",
                "price_details": {"price": pid, "product": "prod_pro"},
            },
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {
                    "proration": proration,
                    "subscription": sub,
                    "subscription_item": item,
                },
            },
        }

    def invoice(
        self,
        created: int,
        lines: list[dict[str, Any]],
        status: str = "paid",
        customer: str = "cus_1",
    ) -> None:
        self.invoices.append(
            {
                "id": f"in_{len(self.invoices)}",
                "object": "invoice",
                "created": created,
                "customer": customer,
                "status": status,
                "lines": {"object": "list", "data": lines, "has_more": False},
            }
        )

    def monthly(self, sub: str, pid: str, qty: int, first: int, last: int, **kw: Any) -> None:
        for m in range(first, last):
            self.invoice(month(m), [self.line(sub, pid, qty, month(m), month(m + 1), **kw)])

    def sub(self, sid: str, *, items: tuple[str, ...] = ("si_1",), **fields: Any) -> None:
        self.subs.append(
            {
                "id": sid,
                "object": "subscription",
                "customer": "cus_1",
                "status": "active",
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "pause_collection": None,
                "trial_start": None,
                "trial_end": None,
                "items": {"data": [{"id": i, "current_period_end": month(6)} for i in items]},
                **fields,
            }
        )

    def rows(self, **staged: Any) -> pd.DataFrame:
        tables = StripeConnector("sk_test_unused").transform(
            {
                "customers": [{"id": "cus_1", "created": T0, "name": "Acme", "metadata": {}}],
                "products": [{"id": "prod_pro", "name": "pro"}],
                "prices": list(self.prices.values()),
                "coupons": list(self.coupons.values()),
                "subscriptions": self.subs,
                "invoices": self.invoices,
                **staged,
            }
        )
        subs = tables["subscriptions"].sort_values(["started_at", "subscription_id"])
        return subs.reset_index(drop=True)


def ts(seconds: int | None) -> Any:
    return (
        None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    )


def brief(rows: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [
        (
            r.started_at,
            None if pd.isna(r.ended_at) else r.ended_at,
            r.amount,
            r.quantity,
            r.discount,
        )
        for r in rows.itertuples()
    ]


def test_a_quantity_change_with_proration_starts_a_row_where_the_old_one_ends():
    book = Book()
    change = month(2) + 10 * DAY
    book.monthly("sub_1", "p10", 5, 0, 2)
    book.invoice(month(2), [book.line("sub_1", "p10", 5, month(2), month(3))])
    book.invoice(
        month(3),
        [
            book.line("sub_1", "p10", 5, change, month(3), amount=-1000, proration=True),
            book.line("sub_1", "p10", 8, change, month(3), amount=1700, proration=True),
            book.line("sub_1", "p10", 8, month(3), month(4)),
        ],
    )
    book.monthly("sub_1", "p10", 8, 4, 6)
    book.sub("sub_1")
    assert brief(book.rows()) == [
        (ts(month(0)), ts(change), "10.00", 5, "0.000000"),
        (ts(change), None, "10.00", 8, "0.000000"),
    ]


def test_a_price_change_with_proration_changes_plan_price_and_mrr_not_by_the_proration():
    book = Book()
    change = month(1) + 3 * DAY
    book.monthly("sub_1", "p10", 1, 0, 1)
    book.invoice(month(1), [book.line("sub_1", "p10", 1, month(1), month(2))])
    book.invoice(
        change,
        [  # an immediate upgrade invoice: credit the old price, prorate the new
            book.line("sub_1", "p10", 1, change, month(2), amount=-900, proration=True),
            book.line("sub_1", "p25", 1, change, month(2), amount=2250, proration=True),
        ],
    )
    book.monthly("sub_1", "p25", 1, 2, 4)
    book.sub("sub_1")
    rows = book.rows()
    assert brief(rows) == [
        (ts(month(0)), ts(change), "10.00", 1, "0.000000"),
        (ts(change), None, "25.00", 1, "0.000000"),
    ]
    orders = StripeConnector("sk_test_unused").transform({"invoices": book.invoices})["orders"]
    assert orders.empty  # prorations are neither MRR nor orders


def test_a_trial_is_part_of_the_row_it_leads_into():
    book = Book()
    trial_end = T0 + 14 * DAY
    book.invoice(T0, [book.line("sub_1", "p10", 3, T0, trial_end, amount=0)])
    book.invoice(
        trial_end, [book.line("sub_1", "p10", 3, trial_end, exporter.add_months(trial_end, 1))]
    )
    book.sub("sub_1", trial_start=T0, trial_end=trial_end)
    rows = book.rows()
    assert brief(rows) == [(ts(T0), None, "10.00", 3, "0.000000")]
    assert rows.trial_ends_at[0] == ts(trial_end)


def test_coupon_durations_once_repeating_and_forever():
    book = Book()
    once = book.coupon("welcome", "once", percent=50)
    three = book.coupon("launch", "repeating", percent=25, months=3)
    flat = book.coupon("partner", "forever", amount=500)
    book.monthly("sub_once", "p10", 2, 0, 1, discount=once)
    book.monthly("sub_once", "p10", 2, 1, 4)
    book.monthly("sub_rep", "p10", 2, 0, 3, discount=three)
    book.monthly("sub_rep", "p10", 2, 3, 5)
    book.monthly("sub_ever", "p10", 2, 0, 5, discount=flat)
    for sid in ("sub_once", "sub_rep", "sub_ever"):
        book.sub(sid)
    rows = book.rows()
    by_sub = {
        sid: brief(rows[rows.subscription_id.str.startswith(sid + ":")])
        for sid in ("sub_once", "sub_rep", "sub_ever")
    }
    assert by_sub["sub_once"] == [(ts(month(0)), None, "10.00", 2, "0.000000")]
    assert by_sub["sub_rep"] == [
        (ts(month(0)), ts(month(3)), "10.00", 2, "0.250000"),
        (ts(month(3)), None, "10.00", 2, "0.000000"),
    ]
    assert by_sub["sub_ever"] == [(ts(month(0)), None, "10.00", 2, "0.250000")]  # 5.00 of 20.00


def test_metered_prices_are_not_recurring_revenue():
    book = Book()
    for m in range(3):
        book.invoice(
            month(m),
            [
                book.line("sub_1", "p10", 1, month(m), month(m + 1)),
                book.line("sub_1", "pmeter", 7000, month(m), month(m + 1), item="si_meter"),
            ],
        )
    book.sub("sub_1", items=("si_1", "si_meter"))
    assert brief(book.rows()) == [(ts(month(0)), None, "10.00", 1, "0.000000")]


def test_cancel_at_period_end_ends_the_row_at_the_period_end():
    book = Book()
    book.monthly("sub_1", "p10", 1, 0, 3)
    asked = month(2) + 5 * DAY
    book.sub(
        "sub_1",
        cancel_at_period_end=True,
        canceled_at=asked,
        items={"data": [{"id": "si_1", "current_period_end": month(3)}]},
    )
    rows = book.rows()
    assert brief(rows) == [(ts(month(0)), ts(month(3)), "10.00", 1, "0.000000")]
    assert rows.canceled_at[0] == ts(asked)
    book.subs[0].update(status="canceled", ended_at=month(3), cancel_at_period_end=False)
    assert book.rows().canceled_at[0] == ts(asked)


def test_a_pause_is_a_gap_and_past_due_keeps_paying():
    book = Book()
    book.monthly("sub_1", "p10", 1, 0, 2)
    book.invoice(month(2), [book.line("sub_1", "p10", 1, month(2), month(3))], status="void")
    book.invoice(month(3), [book.line("sub_1", "p10", 1, month(3), month(4))], status="void")
    book.monthly("sub_1", "p10", 1, 4, 5)
    book.invoice(month(5), [book.line("sub_1", "p10", 1, month(5), month(6))], status="open")
    book.sub("sub_1", status="past_due")
    assert brief(book.rows()) == [
        (ts(month(0)), ts(month(2)), "10.00", 1, "0.000000"),
        (ts(month(4)), None, "10.00", 1, "0.000000"),
    ]
    book.invoices = book.invoices[:4]  # paused now: the row ends where billing stopped
    book.subs[0].update(status="active", pause_collection={"behavior": "void", "resumes_at": None})
    assert brief(book.rows()) == [(ts(month(0)), ts(month(2)), "10.00", 1, "0.000000")]


def test_currencies_keep_their_minor_units_and_intervals_their_unit():
    book = Book()
    book.monthly("sub_jpy", "pjpy", 2, 0, 2)
    book.invoice(T0, [book.line("sub_year", "pyear", 1, T0, exporter.add_months(T0, 12))])
    book.sub("sub_jpy")
    book.sub("sub_year")
    rows = book.rows().set_index("currency")
    assert (rows.loc["JPY", "amount"], rows.loc["JPY", "quantity"]) == ("1500", 2)
    assert (rows.loc["USD", "amount"], rows.loc["USD", "billing_unit"]) == ("1200.00", "year")
    assert rows.loc["USD", "billing_period"] == 1


def test_one_time_items_refunds_and_credit_notes_become_orders_and_customers_accounts():
    one_time = {
        "id": "il_x",
        "amount": 5000,
        "currency": "eur",
        "discount_amounts": [{"amount": 500}],
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {"proration": False, "subscription": None},
        },
    }
    staged = {
        "customers": [
            {
                "id": "cus_1",
                "created": T0,
                "name": "Acme",
                "metadata": {"crm_id": "HS-1", "tier": "gold"},
            }
        ],
        "invoices": [
            {
                "id": "in_1",
                "created": T0,
                "customer": "cus_1",
                "status": "paid",
                "lines": {"data": [one_time]},
            },
            {
                "id": "in_2",
                "created": T0,
                "customer": "cus_1",
                "status": "void",
                "lines": {"data": [{**one_time, "id": "il_void"}]},
            },
        ],
        "refunds": [
            {
                "id": "re_1",
                "amount": 1000,
                "currency": "eur",
                "created": T0 + DAY,
                "status": "succeeded",
                "charge": {"id": "ch_1", "customer": "cus_1"},
            },
            {
                "id": "re_2",
                "amount": 1000,
                "currency": "eur",
                "created": T0 + DAY,
                "status": "failed",
                "charge": {"id": "ch_1", "customer": "cus_1"},
            },
        ],
        "credit_notes": [
            {
                "id": "cn_1",
                "customer": "cus_1",
                "created": T0 + 2 * DAY,
                "currency": "eur",
                "status": "issued",
                "out_of_band_amount": 300,
            }
        ],
    }
    tables = StripeConnector("sk_test_unused", account_key="metadata:crm_id").transform(staged)
    orders = tables["orders"].sort_values("order_id")
    assert list(
        zip(orders.order_id, orders.kind, orders.amount, orders.account_id, strict=True)
    ) == [
        ("cn_1", "refund", "-3.00", "HS-1"),
        ("il_x", "one_time", "45.00", "HS-1"),
        ("re_1", "refund", "-10.00", "HS-1"),
    ]
    accounts = tables["accounts"]
    assert accounts.to_dict("records") == [
        {"tier": "gold", "account_id": "HS-1", "name": "Acme", "created_at": ts(T0)}
    ]
    by_id = StripeConnector("sk_test_unused").transform(staged)["accounts"]
    assert list(by_id.account_id) == ["cus_1"] and "crm_id" in by_id.columns


def test_invoice_lines_beyond_the_first_page_are_all_pulled(small):
    _, objects = small
    server = StripeServer(objects, KEY, inline_lines=1)
    with server.running():
        pages = list(
            connector.build({"base_url": server.url, "page_size": "7"}, KEY).pull("invoices", None)
        )
    invoices = {r["id"]: r for page in pages for r in page.records}
    want = {i["id"]: len(i["lines"]["data"]) for i in objects["invoices"]}
    assert {k: len(v["lines"]["data"]) for k, v in invoices.items()} == want
    assert max(want.values()) >= 2 and len(pages) == math.ceil(len(want) / 7)
