"""Support-ticket rows: first-contact resolution under the configured criteria, response and
resolution times, backlog, per account and period of opening (and ticket_channel when split by
it).

A ticket is a first contact. It was resolved at first contact when it is resolved with a single
customer contact, was not reopened within `fcr_reopen_window_days` of its resolution, was
confirmed by the customer if `fcr_confirmation` requires it, and (with `fcr_other_channel` =
same_issue) the account did not come back through another channel within that window. Abandoned
calls are left out of FCR unless `fcr_abandoned` includes them (as unresolved contacts). FCR
divides by every first contact, open tickets included, or with `fcr_denominator` = solved by the
solved ones only (Zendesk's one-touch rate).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.metrics.query import Query, flag, union_sum

MEASURES = (
    "tickets",
    "first_contacts",
    "first_contact_resolutions",
    "tickets_resolved",
    "backlog",
    "backlog_age_days",
)
TIME_MEASURES = (
    "first_response_hours_median",
    "first_response_hours_p90",
    "resolution_hours_median",
    "resolution_hours_p90",
)
DIMENSIONS = ("ticket_channel",)


def _tickets(query: Query) -> ir.Table:
    def build() -> ir.Table:
        tickets = query.facts("tickets")
        opened = query.local(tickets.opened_at)
        rows = tickets.mutate(
            ticket_channel=tickets.channel,
            opened=opened,
            day=opened.date(),
            opened_s=tickets.opened_at.epoch_seconds(),
            responded_s=tickets.first_response_at.epoch_seconds(),
            resolved_s=tickets.resolved_at.epoch_seconds(),
            reopened_s=tickets.reopened_at.epoch_seconds(),
        )
        return _with_first_contact_resolution(query, rows)

    return query.memo("tickets", build)


def _with_first_contact_resolution(query: Query, rows: ir.Table) -> ir.Table:
    """Add `fcr`: the ticket was resolved at first contact (see the module docstring)."""
    d = query.definitions
    window = d.fcr_reopen_window_days * 86400
    reopened = rows.reopened_s.notnull() & (
        rows.resolved_s.isnull() | (rows.reopened_s - rows.resolved_s <= window)
    )
    rule = (rows.status == "resolved") & (rows.contacts == 1) & ~reopened
    if d.fcr_confirmation == "required":
        rule &= rows.confirmed_resolved.fill_null(False)
    rows = rows.mutate(fcr=rule)
    if d.fcr_other_channel == "new_issue":
        return rows
    later = rows.select(later_account="account_id", later_channel="channel", later_s="opened_s")
    followed = (
        rows.join(
            later,
            [
                rows.account_id == later.later_account,
                rows.channel != later.later_channel,
                later.later_s > rows.opened_s,
                later.later_s <= rows.resolved_s.fill_null(rows.opened_s) + window,
            ],
        )
        .select(followed_id="ticket_id")
        .distinct()
    )
    marked = rows.left_join(followed, rows.ticket_id == followed.followed_id)
    return marked.mutate(fcr=marked.fcr & marked.followed_id.isnull()).drop("followed_id")


def _counted(query: Query, rows: ir.Table) -> ir.BooleanValue:
    """Tickets that are first contacts for FCR (its denominator)."""
    d = query.definitions
    channels = d.fcr_channel_names
    counted = rows.status != "abandoned" if d.fcr_abandoned == "excluded" else rows.status.notnull()
    if d.fcr_denominator == "solved":
        counted &= rows.status == "resolved"
    if channels is not None:
        counted &= rows.channel.isin(channels)
    return counted


def account_support(query: Query) -> ir.Table:
    """Per account and period of opening: tickets, first_contacts (FCR's denominator),
    first_contact_resolutions, tickets_resolved; and at the period's end, backlog (tickets open then) and its total age."""
    tickets = _tickets(query)
    opened = query.in_period(tickets)
    counted = _counted(query, opened)
    keys = query.account_keys(*DIMENSIONS)
    flow = opened.group_by(keys).aggregate(
        tickets=opened.count(),
        first_contacts=flag(counted).sum(),
        first_contact_resolutions=flag(counted & opened.fcr).sum(),
        tickets_resolved=flag(opened.status == "resolved").sum(),
    )
    periods = query.calendar.select("period_index", "period_start", "period_end")
    end = periods.period_end.cast("timestamp")
    open_at_end = tickets.join(
        periods,
        [
            tickets.opened < end,
            tickets.status != "abandoned",
            tickets.resolved_at.isnull() | (query.local(tickets.resolved_at) >= end),
        ],
    )
    age = (
        open_at_end.period_end.cast("timestamp").epoch_seconds()
        - open_at_end.opened.epoch_seconds()
    ) / 86400
    backlog = open_at_end.group_by(keys).aggregate(
        backlog=open_at_end.count(), backlog_age_days=age.cast("float64").sum()
    )
    types = {m: "float64" if m == "backlog_age_days" else "int64" for m in MEASURES}
    return union_sum([flow, backlog], keys, types)


def segment_ticket_times(query: Query) -> ir.Table:
    """Median and 90th percentile of first response and resolution times (hours) per period and
    segment: quantiles are not sums, so they are computed at the level of the result."""
    dims = [x for x in DIMENSIONS if x in query.dims]
    tickets = _tickets(query).select(
        "account_id", *dims, "day", "status", "opened_s", "responded_s", "resolved_s"
    )
    rows = query.with_segments(query.in_period(tickets))
    response = (rows.responded_s - rows.opened_s).cast("float64") / 3600
    resolution = ibis.cases(
        (rows.status == "resolved", (rows.resolved_s - rows.opened_s).cast("float64") / 3600)
    )
    return rows.group_by(["period_index", *query.by, *dims]).aggregate(
        first_response_hours_median=response.quantile(0.5),
        first_response_hours_p90=response.quantile(0.9),
        resolution_hours_median=resolution.quantile(0.5),
        resolution_hours_p90=resolution.quantile(0.9),
    )


def account_ticket_times(query: Query) -> ir.Table:
    """Per account and period, for drill-down: its tickets and their mean times (hours)."""
    rows = query.in_period(_tickets(query))
    return rows.group_by(query.account_keys(*DIMENSIONS)).aggregate(
        tickets=rows.count(),
        first_response_hours_median=((rows.responded_s - rows.opened_s) / 3600).median(),
        first_response_hours_p90=((rows.responded_s - rows.opened_s) / 3600).quantile(0.9),
        resolution_hours_median=((rows.resolved_s - rows.opened_s) / 3600).median(),
        resolution_hours_p90=((rows.resolved_s - rows.opened_s) / 3600).quantile(0.9),
    )
