"""How engagement, voice-of-customer and support metrics count, where teams choose differently:
what makes a user active, when a session ends, which features are core, who is satisfied, and
what counts as a first-contact resolution. Stored as `definition.<name>` settings; every result
records the definitions it used."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tenure.errors import QueryError

HELP = {
    "active_events": "event names that make a user active, comma-separated, or 'any'",
    "session_gap_minutes": "events further apart than this start a new session (when an event "
    "has no session_id)",
    "session_duration": "'last_event': a session lasts from its first to its last event's "
    "timestamp (PostHog); 'last_event_end': to the end of its last event (occurred_at + "
    "duration_s)",
    "core_features": "features that define product depth, comma-separated ('' = every feature "
    "seen in the data)",
    "visit_event": "the event of a web visit (conversion denominator)",
    "lead_event": "the event of a new lead",
    "conversion_event": "the event that counts as a conversion (e.g. signup)",
    "paid_event": "the event of a free account turning paid",
    "onboarding_event": "the event of one onboarding step (properties.step = its number)",
    "onboarding_steps": "the number of onboarding steps; completion = all of them done",
    "defect_event": "the event of a defect or error seen by a user (product performance)",
    "incident_event": "the event of an outage; duration_s = its downtime (account_id empty = "
    "every account)",
    "request_event": "the event of a timed request; duration_s = its response time",
    "csat_satisfied": "'top2' (the two highest scores of the scale) or a share of the scale, "
    "e.g. 0.75: satisfied when score >= min + 0.75 x (max - min)",
    "ces_positive": "'above_midpoint' (5-7 on 1-7) or a share of the scale as for CSAT",
    "fcr_channels": "ticket channels that count for FCR, comma-separated, or 'all'",
    "fcr_abandoned": "'excluded': abandoned calls are not contacts; 'included': they count as "
    "first contacts that were not resolved",
    "fcr_confirmation": "'not_required', or 'required': resolved at first contact only when "
    "the customer confirmed it (post-contact survey)",
    "fcr_reopen_window_days": "a ticket reopened within this many days of its resolution was "
    "not resolved at first contact",
    "fcr_denominator": "'all_first_contacts': FCR divides by every first contact, open ones "
    "included; 'solved': by solved first contacts only (Zendesk's one-touch rate)",
    "fcr_other_channel": "'new_issue': a contact from the same account on another channel is a "
    "new issue; 'same_issue': such a contact within the reopen window means the first was not "
    "resolved",
}


@dataclass(frozen=True)
class Definitions:
    active_events: str = "any"
    session_gap_minutes: float = 30.0
    session_duration: str = "last_event"
    core_features: str = ""
    visit_event: str = "visit"
    lead_event: str = "lead_created"
    conversion_event: str = "signup"
    paid_event: str = "converted_to_paid"
    onboarding_event: str = "onboarding_step"
    onboarding_steps: int = 5
    defect_event: str = "error"
    incident_event: str = "incident"
    request_event: str = "request"
    csat_satisfied: str = "top2"
    ces_positive: str = "above_midpoint"
    fcr_channels: str = "all"
    fcr_abandoned: str = "excluded"
    fcr_confirmation: str = "not_required"
    fcr_reopen_window_days: float = 7.0
    fcr_other_channel: str = "new_issue"
    fcr_denominator: str = "all_first_contacts"

    def __post_init__(self) -> None:
        choices = {
            "session_duration": ("last_event", "last_event_end"),
            "fcr_denominator": ("all_first_contacts", "solved"),
            "fcr_abandoned": ("excluded", "included"),
            "fcr_confirmation": ("not_required", "required"),
            "fcr_other_channel": ("new_issue", "same_issue"),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise QueryError(
                    f"definition {name} cannot be {getattr(self, name)!r}; choose one of: "
                    f"{', '.join(valid)}"
                )
        for name, keyword in (("csat_satisfied", "top2"), ("ces_positive", "above_midpoint")):
            value = getattr(self, name)
            if value != keyword and scale_share(value) is None:
                raise QueryError(
                    f"definition {name} must be {keyword!r} or a share of the scale between 0 "
                    f"and 1, not {value!r}"
                )
        if self.session_gap_minutes <= 0 or self.onboarding_steps < 1:
            raise QueryError("session_gap_minutes and onboarding_steps must be positive")
        if self.fcr_reopen_window_days < 0:
            raise QueryError("fcr_reopen_window_days cannot be negative")

    @property
    def active_event_names(self) -> list[str] | None:
        """None for any event."""
        return None if self.active_events.strip() == "any" else _names(self.active_events)

    @property
    def core_feature_names(self) -> list[str]:
        return _names(self.core_features)

    @property
    def fcr_channel_names(self) -> list[str] | None:
        return None if self.fcr_channels.strip() == "all" else _names(self.fcr_channels)

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_settings(cls, values: dict[str, str]) -> Definitions:
        """Build from `definition.<name>` settings (strings), ignoring unset ones."""
        kwargs: dict[str, Any] = {}
        for item in fields(cls):
            raw = values.get(f"definition.{item.name}")
            if raw is None:
                continue
            kind: type[Any] = type(item.default)
            try:
                kwargs[item.name] = kind(raw)
            except ValueError:
                raise QueryError(
                    f"definition {item.name} must be a {kind.__name__}, not {raw!r}"
                ) from None
        return cls(**kwargs)


def scale_share(value: str) -> float | None:
    try:
        share = float(value)
    except ValueError:
        return None
    return share if 0 <= share <= 1 else None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def definition_defaults() -> dict[str, str]:
    return {f"definition.{item.name}": str(item.default) for item in fields(Definitions)}
