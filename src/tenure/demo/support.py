"""Support tickets over phone, chat and e-mail: some solved at first contact, some reopened or
abandoned in the queue, and more of them from unhealthy accounts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tenure.demo.common import DAY, ids, sigmoid, timestamps
from tenure.demo.company import Company

CHANNELS = ["phone", "chat", "email"]
CHANNEL_P = [0.3, 0.4, 0.3]
FIRST_RESPONSE_S = np.array([60.0, 180.0, 4 * 3600.0])
QUICK_RESOLUTION_S = np.array([600.0, 900.0, 6 * 3600.0])
FCR_BASE = np.array([0.9, 1.2, 0.5])  # log-odds of resolving at first contact


def tickets_table(rng: np.random.Generator, company: Company) -> pa.Table:
    months = (company.span_end - company.span_start).astype(np.int64) / (30.44 * 86_400)
    rate = 0.12 * np.sqrt(company.seats) * np.exp(-0.5 * company.health)
    count = rng.poisson(np.maximum(months, 0) * rate)
    acc = np.repeat(np.arange(len(count)), count)
    n = len(acc)
    # Unhappy accounts call more as they approach the end.
    position = np.where(company.churned[acc], rng.beta(1.6, 1.0, n), rng.random(n))
    length = (company.span_end - company.span_start).astype(np.int64)[acc]
    opened = company.span_start[acc] + (position * length).astype("timedelta64[s]")
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
    first_response = opened + (rng.exponential(FIRST_RESPONSE_S[channel])).astype("timedelta64[s]")
    single = rng.random(n) < sigmoid(FCR_BASE[channel] + 0.4 * company.health[acc])
    contacts = np.where(single, 1, 2 + rng.poisson(0.7, n))
    quick = rng.exponential(QUICK_RESOLUTION_S[channel])
    slow = rng.exponential(2.5 * 86_400, n) * contacts
    resolved = opened + np.where(single, quick, slow).astype("timedelta64[s]")
    abandoned = (channel == 0) & (rng.random(n) < 0.06)
    recent = (company.as_of - opened) < 5 * DAY
    still_open = ~abandoned & (
        (recent & (rng.random(n) < 0.6)) | (rng.random(n) < 0.02) | (resolved >= company.as_of)
    )
    is_resolved = ~abandoned & ~still_open
    reopened = is_resolved & (rng.random(n) < 0.07)
    reopened_at = resolved + (rng.integers(1, 6, n) * DAY)
    reopened &= reopened_at < company.as_of
    answered = is_resolved & (rng.random(n) < 0.55)
    confirmed = np.where(single & ~reopened, rng.random(n) < 0.92, rng.random(n) < 0.4)
    status = np.select([abandoned, still_open], ["abandoned", "open"], "resolved")
    order = np.argsort(opened, kind="stable")
    has_response = ~abandoned & (first_response < company.as_of)

    def arranged(values: np.ndarray) -> np.ndarray:
        return values[order]

    return pa.table(
        {
            "ticket_id": ids("T", np.arange(1, n + 1), 7),
            "account_id": [company.account_ids[a] for a in arranged(acc)],
            "channel": [CHANNELS[c] for c in arranged(channel)],
            "opened_at": timestamps(arranged(opened)),
            "first_response_at": timestamps(arranged(first_response), arranged(has_response)),
            "resolved_at": timestamps(arranged(resolved), arranged(is_resolved)),
            "status": arranged(status).tolist(),
            "contacts": pa.array(arranged(np.where(abandoned, 1, contacts)), pa.int64()),
            "reopened_at": timestamps(arranged(reopened_at), arranged(reopened)),
            "confirmed_resolved": pa.array(
                arranged(confirmed), pa.bool_(), mask=arranged(~answered)
            ),
        }
    )
