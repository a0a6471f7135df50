"""A customer's profile state and how one resolved event changes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.profile.domain import ProfileError
from services.profile.domain.consent import (
    ConsentChanged,
    ConsentState,
    event_statements,
    merge_consents,
    status_changes,
)
from services.profile.domain.identity import Identity, identities_of
from services.profile.domain.trait_ops import trait_statements
from services.profile.domain.traits import DEFAULT_RULES, TraitRules, TraitState, merge_traits
from shared.events import parse_time


@dataclass(frozen=True, slots=True)
class IngestedEvent:
    """The parts of a normalized ingest event the profile needs, already typed."""

    id: str
    kind: str
    data: Mapping[str, Any]
    identities: tuple[Identity, ...]
    timestamp: datetime
    channel: str
    source: str

    @classmethod
    def from_data(cls, event_id: str, data: Mapping[str, Any]) -> IngestedEvent:
        try:
            timestamp = parse_time(str(data["timestamp"]))
        except (KeyError, ValueError) as exc:
            raise ProfileError(
                f"ingest event {event_id} has no valid timestamp ({exc}); it must carry "
                "the normalized RFC 3339 `timestamp`"
            ) from exc
        return cls(
            id=event_id,
            kind=str(data.get("type") or "track"),
            data=data,
            identities=identities_of(data),
            timestamp=timestamp,
            channel=str(data.get("channel") or "other"),
            source=str(data.get("source") or "unknown"),
        )

    def person_traits(self) -> Mapping[str, Any]:
        """Traits about the person: identify's traits, or ``context.traits`` on other calls."""
        if self.kind == "identify":
            traits = self.data.get("traits")
        elif self.kind == "group":
            return {}  # a group call's traits describe the group, not the person
        else:
            context = self.data.get("context")
            traits = context.get("traits") if isinstance(context, Mapping) else None
        return traits if isinstance(traits, Mapping) else {}

    def properties(self) -> Mapping[str, Any] | None:
        properties = self.data.get("properties")
        return properties if isinstance(properties, Mapping) else None


@dataclass(frozen=True, slots=True)
class SegmentMembership:
    """A segment the customer is in (segments are computed by a later issue; read as stored)."""

    segment_id: str
    name: str
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class Customer:
    """What the profile knows about one customer (identities live beside it)."""

    id: str
    traits: Mapping[str, TraitState] = field(default_factory=dict)
    consents: Mapping[str, ConsentState] = field(default_factory=dict)
    """The current statement per purpose, and per channel under ``channel:<name>``."""
    channels: frozenset[str] = frozenset()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    segments: tuple[SegmentMembership, ...] = ()
    revision: str | None = None
    """The stored revision of traits and consents this state was read at (None: never
    written); the store writes them only over that revision (compare-and-set)."""


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """How one event changed a customer: the new state and what moved."""

    customer: Customer
    traits: Mapping[str, TraitState]
    consents: Mapping[str, ConsentState]
    new_channel: bool
    statements: tuple[ConsentState, ...] = ()
    """Every consent statement the event made (the history keeps them all)."""
    consent_changes: tuple[ConsentChanged, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.traits or self.consents)


def apply_event(
    customer: Customer, event: IngestedEvent, rules: TraitRules = DEFAULT_RULES
) -> ProfileChange:
    """Merge the event's traits, consent and sighting into the customer (late events too)."""
    ops = trait_statements(
        event.person_traits(),
        event.properties(),
        at=event.timestamp,
        event_id=event.id,
        source=event.source,
        channel=event.channel,
    )
    traits, changed_traits = merge_traits(customer.traits, ops, rules)
    statements = event_statements(
        event.data, at=event.timestamp, event_id=event.id, source=event.source
    )
    consents, changed_consents = merge_consents(customer.consents, statements)
    first = customer.first_seen
    last = customer.last_seen
    updated = replace(
        customer,
        traits=traits,
        consents=consents,
        channels=customer.channels | {event.channel},
        first_seen=event.timestamp if first is None else min(first, event.timestamp),
        last_seen=event.timestamp if last is None else max(last, event.timestamp),
    )
    return ProfileChange(
        customer=updated,
        traits=changed_traits,
        consents=changed_consents,
        new_channel=event.channel not in customer.channels,
        statements=tuple(statements),
        consent_changes=tuple(status_changes(customer.consents, changed_consents)),
    )
