"""Monthly spend by category: retention costs scale with the base, acquisition with new logos."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa

from tenure.demo.company import Company

# category: (currency, fixed per month, per active account, per new account, per ticket)
DRIVERS = {
    "customer_success": ("USD", 4000, 38, 0, 0),
    "support": ("EUR", 2500, 0, 0, 16),
    "onboarding": ("USD", 500, 0, 140, 0),
    "training": ("USD", 1800, 3, 0, 0),
    "customer_marketing": ("USD", 1200, 4, 0, 0),
    "acquisition_marketing": ("USD", 6000, 0, 650, 0),
    "sales": ("USD", 5000, 0, 520, 0),
}


def costs_table(rng: np.random.Generator, company: Company, tickets: pa.Table) -> pa.Table:
    months = np.arange(company.start.astype("datetime64[M]"), company.as_of.astype("datetime64[M]"))
    starts = months.astype("datetime64[s]")
    ends = (months + 1).astype("datetime64[s]")
    active = (
        (company.span_start[None, :] < ends[:, None])
        & (company.span_end[None, :] >= starts[:, None])
    ).sum(1)
    new = np.histogram(company.created, bins=np.append(starts, ends[-1]))[0]
    opened = tickets.column("opened_at").to_numpy(zero_copy_only=False).astype("datetime64[s]")
    ticket_count = np.histogram(opened, bins=np.append(starts, ends[-1]))[0]
    rows: dict[str, list[object]] = {
        k: [] for k in ("period_start", "period_end", "category", "amount", "currency")
    }
    for category, (currency, fixed, per_active, per_new, per_ticket) in DRIVERS.items():
        noise = rng.normal(1.0, 0.05, len(months))
        amount = (fixed + per_active * active + per_new * new + per_ticket * ticket_count) * noise
        rows["period_start"] += list(months.astype("datetime64[D]").astype(object))
        rows["period_end"] += list(((months + 1).astype("datetime64[D]") - 1).astype(object))
        rows["category"] += [category] * len(months)
        rows["amount"] += [Decimal(f"{a:.2f}") for a in amount]
        rows["currency"] += [currency] * len(months)
    return pa.table(
        {
            "period_start": pa.array(rows["period_start"], pa.date32()),
            "period_end": pa.array(rows["period_end"], pa.date32()),
            "category": rows["category"],
            "amount": pa.array(rows["amount"], pa.decimal128(18, 4)),
            "currency": rows["currency"],
        }
    )
