"""The demo company's customers and money: accounts, users, subscriptions, orders, fx rates, costs.

Every account has a latent health `h` (standard normal, nudged by acquisition channel). It drives
everything downstream — churn, expansion, usage, survey scores, tickets — so that health scores and
churn models built later find real signal, as they would in a real company's data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa

from tenure.demo.common import DAY, add_months, ids, money, sigmoid, timestamps, to_seconds

COUNTRIES = ["US", "GB", "DE", "IT", "FR", "JP", "TH"]
COUNTRY_P = [0.33, 0.1, 0.09, 0.13, 0.07, 0.16, 0.12]
CURRENCY = {
    "US": "USD",
    "GB": "GBP",
    "DE": "EUR",
    "IT": "EUR",
    "FR": "EUR",
    "JP": "JPY",
    "TH": "THB",
}
LANGUAGE = {"US": "en", "GB": "en", "DE": "en", "IT": "it", "FR": "en", "JP": "ja", "TH": "th"}
# Local units per USD for pricing, rounding step, and decimals of the currency.
LOCAL = {
    "USD": (1.0, 1, 2),
    "EUR": (0.92, 1, 2),
    "GBP": (0.79, 1, 2),
    "JPY": (150, 10, 0),
    "THB": (35, 10, 2),
}
FX_START = {"EUR": 1.08, "GBP": 1.27, "JPY": 0.0068, "THB": 0.028}
INDUSTRIES = [
    "software",
    "retail",
    "manufacturing",
    "healthcare",
    "education",
    "finance",
    "logistics",
]
CHANNELS = ["organic", "paid_search", "partner", "outbound", "referral"]
CHANNEL_P = [0.3, 0.25, 0.15, 0.15, 0.15]
CHANNEL_HEALTH = np.array([0.0, -0.25, 0.2, -0.1, 0.35])
OWNERS = ["Aiko Tanaka", "Marco Ricci", "Nok Suwan", "Emma Clarke", "Lukas Weber", "Sara Conti"]
PLANS = ["starter", "growth", "enterprise"]
PLAN_P = [0.5, 0.35, 0.15]
SEAT_PRICE_USD = np.array([15, 35, 60])  # per seat per month
SEATS_MEDIAN = np.array([2.5, 12, 60])
NAME_PARTS = {
    "en": [
        "Blue Harbor",
        "Northwind",
        "Brightline",
        "Oak & Iron",
        "Redwood",
        "Silverleaf",
        "Summit",
    ],
    "it": ["Aurora", "Rossi & Figli", "Stella Alpina", "Lago Verde", "Bottega Bianchi", "Vento"],
    "ja": ["Sakura", "Fuji", "Hikari", "Midori", "Kaze", "Yamato"],
    "th": ["Siam", "Lanna", "Chao Phraya", "Sukhothai", "Ayutthaya", "Krungthep"],
}
NAME_SUFFIX = ["Logistics", "Labs", "Foods", "Systems", "Studio", "Trading", "Health", "Partners"]
HISTORY_MONTHS = 36


@dataclass
class Company:
    """What later generators need about each account (arrays indexed by account number)."""

    as_of: np.datetime64
    start: np.datetime64
    health: np.ndarray
    country: np.ndarray  # index into COUNTRIES
    created: np.ndarray
    seats: np.ndarray
    span_start: np.ndarray  # first subscription start
    span_end: np.ndarray  # last end, or as_of while active
    churned: np.ndarray  # not paying at as_of after having started
    n_users: np.ndarray
    user_offset: np.ndarray
    account_ids: list[str]
    user_ids: list[str]
    tables: dict[str, pa.Table]

    @property
    def currency(self) -> np.ndarray:
        return np.array([CURRENCY[COUNTRIES[c]] for c in self.country])


def build_company(rng: np.random.Generator, n_accounts: int, as_of: dt.date) -> Company:
    end = to_seconds(as_of)
    start = to_seconds(dt.date(as_of.year - HISTORY_MONTHS // 12, as_of.month, 1))
    span = (end - start - 7 * DAY).astype(np.int64)
    growth = 2.0  # more sign-ups later in the history, as in a growing company
    u = rng.random(n_accounts)
    offset = np.log1p(u * np.expm1(growth)) / growth * span
    created = np.sort(start + offset.astype("timedelta64[s]"))
    country = rng.choice(len(COUNTRIES), n_accounts, p=COUNTRY_P)
    channel = rng.choice(len(CHANNELS), n_accounts, p=CHANNEL_P)
    health = rng.normal(size=n_accounts) + CHANNEL_HEALTH[channel]
    plan = rng.choice(len(PLANS), n_accounts, p=PLAN_P)
    seats = np.maximum(1, np.round(SEATS_MEDIAN[plan] * rng.lognormal(0, 0.6, n_accounts))).astype(
        int
    )
    account_ids = ids("A", np.arange(1, n_accounts + 1), 6)

    subs = _simulate_subscriptions(rng, created, end, health, plan, seats, country)
    first_start = np.full(n_accounts, end)
    np.minimum.at(first_start, subs["account"], subs["started_at"])
    last_end = np.full(n_accounts, start)
    open_end = np.where(subs["ended"], subs["ended_at"], end)
    np.maximum.at(last_end, subs["account"], np.minimum(open_end, end))
    churned = last_end < end

    n_users = np.clip(np.round(seats * rng.uniform(0.5, 1.0, n_accounts)), 1, 150).astype(int)
    user_offset = np.concatenate([[0], np.cumsum(n_users)[:-1]])
    user_ids = ids("U", np.arange(1, int(n_users.sum()) + 1), 7)

    tables = {
        "accounts": _accounts_table(rng, account_ids, created, country, channel, plan, seats),
        "users": _users_table(rng, account_ids, user_ids, n_users, created, end),
        "subscriptions": _subscriptions_table(subs, account_ids, country),
        "fx_rates": _fx_table(rng, start, end),
    }
    company = Company(
        as_of=end,
        start=start,
        health=health,
        country=country,
        created=created,
        seats=seats,
        span_start=first_start,
        span_end=last_end,
        churned=churned,
        n_users=n_users,
        user_offset=user_offset,
        account_ids=account_ids,
        user_ids=user_ids,
        tables=tables,
    )
    tables["orders"] = _orders_table(rng, company)
    return company


def _local_price(usd: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """Whole-unit list prices in the local currency (JPY and THB rounded to 10)."""
    out = np.empty(len(usd), dtype=np.int64)
    for code, (rate, step, _) in LOCAL.items():
        mask = currency == code
        out[mask] = np.maximum(step, np.round(usd[mask] * rate / step) * step)
    return out


def _simulate_subscriptions(
    rng: np.random.Generator,
    created: np.ndarray,
    end: np.datetime64,
    health: np.ndarray,
    plan: np.ndarray,
    seats: np.ndarray,
    country: np.ndarray,
) -> dict[str, np.ndarray]:
    """Month by month over all accounts at once: trials, churn at period end, expansion,
    contraction, reactivation. Returns one array per subscription column."""
    n = len(created)
    currency = np.array([CURRENCY[COUNTRIES[c]] for c in country])
    bp_choice = np.where(
        plan == 2,
        rng.choice([1, 3, 12], n, p=[0.3, 0.1, 0.6]),
        rng.choice([1, 3, 12], n, p=[0.7, 0.1, 0.2]),
    )
    discount = rng.choice([0.0, 0.1, 0.2, 1.0], n, p=[0.81, 0.12, 0.05, 0.02])
    trial = rng.random(n) < 0.5
    converts = rng.random(n) < sigmoid(1.0 + 1.1 * health)

    rows: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "account",
            "plan",
            "started_at",
            "ended_at",
            "ended",
            "canceled_at",
            "canceled",
            "billing_period",
            "seats",
            "discount",
            "trial_ends_at",
            "has_trial",
            "currency",
        )
    }

    def open_subs(
        acc: np.ndarray,
        when: np.ndarray,
        pl: np.ndarray,
        st: np.ndarray,
        bp: np.ndarray,
        disc: np.ndarray,
        trial_end: np.ndarray,
        has_trial: np.ndarray,
    ) -> np.ndarray:
        first = sum(len(a) for a in rows["account"])
        for key, value in (
            ("account", acc),
            ("plan", pl),
            ("started_at", when),
            ("billing_period", bp),
            ("seats", st),
            ("discount", disc),
            ("trial_ends_at", trial_end),
            ("has_trial", has_trial),
            ("currency", currency[acc]),
        ):
            rows[key].append(value)
        rows["ended_at"].append(np.full(len(acc), end))
        rows["ended"].append(np.zeros(len(acc), bool))
        rows["canceled_at"].append(np.full(len(acc), end))
        rows["canceled"].append(np.zeros(len(acc), bool))
        return np.arange(first, first + len(acc))

    # First subscription of every account, with a 14-day trial for half of them.
    trial_end = created + 14 * DAY
    current = open_subs(np.arange(n), created, plan, seats, bp_choice, discount, trial_end, trial)
    flat = _Flat(rows)
    lost_trial = trial & ~converts & (trial_end <= end)
    flat.close(current[lost_trial], trial_end[lost_trial], trial_end[lost_trial] - 2 * DAY)

    state_active = ~lost_trial
    cur = current.copy()
    month_starts = np.arange(created.min().astype("datetime64[M]"), end.astype("datetime64[M]") + 1)
    for month in month_starts:
        m0 = month.astype("datetime64[s]")
        m1 = (month + 1).astype("datetime64[s]")
        day = m0 + (rng.random(n) * (m1 - m0).astype(np.int64)).astype("timedelta64[s]")
        eligible = state_active & (created < m0) & (day < end)
        # Churn: cancel now, the paid period runs to its end.
        p_churn = sigmoid(-3.6 - 1.1 * health + 0.3 * (flat.get("plan", cur) == 0))
        leaving = eligible & (rng.random(n) < p_churn)
        if leaving.any():
            idx = cur[leaving]
            started, bp = flat.get("started_at", idx), flat.get("billing_period", idx)
            elapsed = _months_between(started, day[leaving])
            periods = np.maximum(np.ceil((elapsed + 1e-9) / bp).astype(int), 1)
            paid_until = add_months(started, periods * bp)
            paid_until = np.where(
                paid_until <= day[leaving], add_months(started, (periods + 1) * bp), paid_until
            )
            flat.close(idx, paid_until, day[leaving])
            state_active &= ~leaving
        # Expansion and contraction: the old row ends, a new one starts the same day.
        p_up = 0.025 * (1 + 0.6 * (health > 0))
        p_down = 0.012 * (1 + 0.8 * (health < 0))
        r = rng.random(n)
        change = eligible & ~leaving & (r < p_up + p_down)
        if change.any():
            up = r[change] < p_up[change]
            idx = cur[change]
            acc = flat.get("account", idx)
            old_seats, old_plan = flat.get("seats", idx), flat.get("plan", idx)
            factor = np.where(up, rng.uniform(1.2, 1.8, len(idx)), rng.uniform(0.5, 0.85, len(idx)))
            new_seats = np.maximum(1, np.round(old_seats * factor)).astype(int)
            upgrade = up & (old_plan < 2) & (rng.random(len(idx)) < 0.3)
            new_seats = np.where(upgrade, old_seats, new_seats)
            new_plan = old_plan + upgrade
            when = day[change]
            flat.close(idx, when, None)
            cur[change] = open_subs(
                acc,
                when,
                new_plan,
                new_seats,
                flat.get("billing_period", idx),
                flat.get("discount", idx),
                when,
                np.zeros(len(idx), bool),
            )
            flat = _Flat(rows)
        # Reactivation: a churned account comes back on a monthly plan.
        gone = ~state_active & (created < m0) & (day < end)
        gone &= flat.get("ended_at", cur) < m0
        back = gone & (rng.random(n) < 0.015 * sigmoid(health + 0.5) * 2)
        if back.any():
            acc = np.flatnonzero(back)
            when = day[back]
            cur[back] = open_subs(
                acc,
                when,
                flat.get("plan", cur[back]),
                flat.get("seats", cur[back]),
                np.ones(len(acc), int),
                np.zeros(len(acc)),
                when,
                np.zeros(len(acc), bool),
            )
            flat = _Flat(rows)
            state_active |= back
    return flat.arrays


class _Flat:
    """Concatenated view of the growing subscription columns, with in-place closing."""

    def __init__(self, rows: dict[str, list[np.ndarray]]) -> None:
        for key, parts in rows.items():
            if len(parts) > 1:
                rows[key] = [np.concatenate(parts)]
        self.rows = rows
        self.arrays = {k: v[0] for k, v in rows.items()}

    def get(self, key: str, idx: np.ndarray) -> np.ndarray:
        values: np.ndarray = self.arrays[key][idx]
        return values

    def close(self, idx: np.ndarray, ended_at: np.ndarray, canceled_at: np.ndarray | None) -> None:
        self.arrays["ended_at"][idx] = ended_at
        self.arrays["ended"][idx] = True
        if canceled_at is not None:
            self.arrays["canceled_at"][idx] = canceled_at
            self.arrays["canceled"][idx] = True


def _months_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    months: np.ndarray = (b - a).astype(np.int64) / (30.436875 * 86_400)
    return months


def _accounts_table(
    rng: np.random.Generator,
    account_ids: list[str],
    created: np.ndarray,
    country: np.ndarray,
    channel: np.ndarray,
    plan: np.ndarray,
    seats: np.ndarray,
) -> pa.Table:
    n = len(account_ids)
    names = []
    for i, c in enumerate(country):
        parts = NAME_PARTS[LANGUAGE[COUNTRIES[c]]]
        names.append(
            f"{parts[rng.integers(len(parts))]} {NAME_SUFFIX[rng.integers(len(NAME_SUFFIX))]} {i + 1}"
        )
    return pa.table(
        {
            "account_id": account_ids,
            "name": names,
            "created_at": timestamps(created),
            "plan": [PLANS[p] for p in plan],
            "country": [COUNTRIES[c] for c in country],
            "industry": [INDUSTRIES[i] for i in rng.integers(len(INDUSTRIES), size=n)],
            "owner": [OWNERS[i] for i in rng.integers(len(OWNERS), size=n)],
            "channel": [CHANNELS[c] for c in channel],
            "seats": pa.array(seats, pa.int64()),
        }
    )


def _users_table(
    rng: np.random.Generator,
    account_ids: list[str],
    user_ids: list[str],
    n_users: np.ndarray,
    created: np.ndarray,
    end: np.datetime64,
) -> pa.Table:
    owner = np.repeat(np.arange(len(account_ids)), n_users)
    joined = created[owner] + (rng.exponential(20, len(owner)) * 86_400).astype("timedelta64[s]")
    joined = np.minimum(joined, end - 1)
    first = np.concatenate([[True], owner[1:] != owner[:-1]])
    return pa.table(
        {
            "user_id": user_ids,
            "account_id": [account_ids[a] for a in owner],
            "created_at": timestamps(np.where(first, created[owner], joined)),
            "role": np.where(first, "admin", "member"),
        }
    )


def _subscriptions_table(
    subs: dict[str, np.ndarray], account_ids: list[str], country: np.ndarray
) -> pa.Table:
    count = len(subs["account"])
    currency = subs["currency"]
    seat_usd = SEAT_PRICE_USD[subs["plan"]] * subs["billing_period"]
    seat_usd = np.where(subs["billing_period"] == 12, SEAT_PRICE_USD[subs["plan"]] * 10, seat_usd)
    price = _local_price(seat_usd.astype(float), currency)
    decimals = np.array([LOCAL[c][2] for c in currency])
    return pa.table(
        {
            "subscription_id": ids("SUB", np.arange(1, count + 1), 7),
            "account_id": [account_ids[a] for a in subs["account"]],
            "plan": [PLANS[p] for p in subs["plan"]],
            "started_at": timestamps(subs["started_at"]),
            "ended_at": timestamps(subs["ended_at"], subs["ended"]),
            "canceled_at": timestamps(subs["canceled_at"], subs["canceled"]),
            "billing_period": pa.array(subs["billing_period"], pa.int64()),
            "billing_unit": ["month"] * count,
            "amount": money(price * 10**decimals, decimals),
            "quantity": pa.array(subs["seats"], pa.int64()),
            "discount": pa.array([Decimal(str(d)) for d in subs["discount"]], pa.decimal128(9, 6)),
            "currency": currency.tolist(),
            "trial_ends_at": timestamps(subs["trial_ends_at"], subs["has_trial"]),
        }
    )


def _fx_table(rng: np.random.Generator, start: np.datetime64, end: np.datetime64) -> pa.Table:
    months = np.arange((start - 31 * DAY).astype("datetime64[M]"), end.astype("datetime64[M]") + 1)
    dates, codes, rates = [], [], []
    for code, first in FX_START.items():
        walk = first * np.exp(np.cumsum(rng.normal(0, 0.015, len(months))))
        dates += list(months.astype("datetime64[D]").astype(dt.date))
        codes += [code] * len(months)
        rates += [Decimal(f"{r:.8f}") for r in walk]
    return pa.table(
        {
            "date": pa.array(dates, pa.date32()),
            "currency": codes,
            "rate_to_reporting": pa.array(rates, pa.decimal128(18, 8)),
        }
    )


def _orders_table(rng: np.random.Generator, company: Company) -> pa.Table:
    """One-time purchases (add-ons, training, merchandise): some customers buy again and again."""
    years = (company.span_end - company.span_start).astype(np.int64) / (365.25 * 86_400)
    rate = rng.gamma(0.7, 1.6, len(years)) * np.exp(0.3 * company.health)
    count = rng.poisson(np.maximum(years, 0) * rate)
    acc = np.repeat(np.arange(len(count)), count)
    length = (company.span_end - company.span_start).astype(np.int64)[acc]
    when = company.span_start[acc] + (rng.random(len(acc)) * length).astype("timedelta64[s]")
    mean_spend = rng.lognormal(np.log(80), 0.6, len(count))[acc]
    usd = rng.gamma(4, mean_spend / 4)
    currency = company.currency[acc]
    rates = np.array([LOCAL[c][0] for c in currency])
    decimals = np.array([LOCAL[c][2] for c in currency])
    minor = np.maximum(1, np.round(usd * rates * 10.0**decimals)).astype(np.int64)
    refunded_at = when + rng.integers(3, 20, len(acc)) * DAY
    refund = (rng.random(len(acc)) < 0.03) & (refunded_at < company.as_of)
    all_acc = np.concatenate([acc, acc[refund]])
    all_when = np.concatenate([when, refunded_at[refund]])
    order = np.argsort(all_when, kind="stable")
    return pa.table(
        {
            "order_id": ids("O", np.arange(1, len(all_acc) + 1), 8),
            "account_id": [company.account_ids[a] for a in all_acc[order]],
            "ordered_at": timestamps(all_when[order]),
            "amount": money(
                np.concatenate([minor, -minor[refund]])[order],
                np.concatenate([decimals, decimals[refund]])[order],
            ),
            "currency": np.concatenate([currency, currency[refund]])[order].tolist(),
            "kind": np.where(np.arange(len(all_acc)) < len(acc), "one_time", "refund")[
                order
            ].tolist(),
        }
    )
