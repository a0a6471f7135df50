"""Interactions: a customer's events as journey analytics reads them.

A :class:`~services.journey.domain.touchpoints.Touchpoint` keeps what a
timeline shows; an :class:`Interaction` also keeps the event's original name
and all its properties, because journey stages, funnels and friction detectors
match on them. Everything here runs on event time: a customer's interactions
are a set keyed by id (a redelivered event is the same interaction), ordered by
``(timestamp, id)``, so the order in which events arrive never matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from services.journey.domain import JourneyError
from services.journey.domain.touchpoints import touchpoint_of
from shared.normalize.canonical import CHANNELS, CanonicalError, snake_case

_NO_PROPERTIES: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Interaction:
    """One event of one customer: what happened (``event``), where, when (event time)."""

    id: str
    customer_id: str
    timestamp: datetime
    channel: str
    event: str
    original_name: str
    kind: str = "track"
    properties: Mapping[str, Any] = field(default_factory=lambda: _NO_PROPERTIES, hash=False)

    @property
    def order(self) -> tuple[datetime, str]:
        """Where the interaction sits in its customer's timeline (ties broken by id)."""
        return (self.timestamp, self.id)

    def with_customer(self, customer_id: str) -> Interaction:
        return Interaction(
            self.id,
            customer_id,
            self.timestamp,
            self.channel,
            self.event,
            self.original_name,
            self.kind,
            self.properties,
        )


def interaction(
    id: str,
    customer_id: str,
    timestamp: datetime,
    channel: str,
    name: str,
    properties: Mapping[str, Any] | None = None,
    *,
    kind: str = "track",
) -> Interaction:
    """An interaction from raw parts: the name canonicalized, the channel and time checked."""
    if timestamp.tzinfo is None:
        raise JourneyError(
            f"interaction {id}: timestamp {timestamp.isoformat()} has no time zone; "
            "pass an aware datetime (event time in UTC)"
        )
    if channel not in CHANNELS:
        raise JourneyError(
            f"interaction {id}: channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}; "
            "map it to one of these (use 'other' when none fits)"
        )
    try:
        event = snake_case(name)
    except CanonicalError as exc:
        raise JourneyError(f"interaction {id}: event name {exc}") from exc
    return Interaction(
        id=id,
        customer_id=customer_id,
        timestamp=timestamp.astimezone(UTC),
        channel=channel,
        event=event,
        original_name=name,
        kind=kind,
        properties=MappingProxyType(dict(properties or {})),
    )


def interaction_of(event_id: str, data: Mapping[str, Any]) -> Interaction:
    """The interaction of a resolved ``customer.event.*`` (its data is the normalized event)."""
    point = touchpoint_of(event_id, data)
    original = data.get("eventName") or point.name or point.kind
    properties = data.get("properties")
    return interaction(
        point.id,
        point.customer_id,
        point.timestamp,
        point.channel if point.channel in CHANNELS else "other",
        str(original),
        properties if isinstance(properties, Mapping) else None,
        kind=point.kind,
    )


def chronological(interactions: Iterable[Interaction]) -> tuple[Interaction, ...]:
    """Interactions in event-time order, each id once.

    Copies of one id should be equal (redeliveries); if they are not, the same
    copy wins whatever the arrival order, so results never depend on it.
    """
    unique: dict[str, Interaction] = {}
    for item in interactions:
        kept = unique.get(item.id)
        if kept is None or _rank(item) < _rank(kept):
            unique[item.id] = item
    return tuple(sorted(unique.values(), key=lambda item: item.order))


def _rank(item: Interaction) -> tuple[datetime, str, str, str, str, str]:
    return (
        item.timestamp,
        item.customer_id,
        item.channel,
        item.event,
        item.kind,
        item.original_name,
    )


def by_customer(interactions: Iterable[Interaction]) -> dict[str, tuple[Interaction, ...]]:
    """Each customer's timeline, customers in id order."""
    grouped: dict[str, list[Interaction]] = {}
    for item in interactions:
        grouped.setdefault(item.customer_id, []).append(item)
    return {customer: chronological(grouped[customer]) for customer in sorted(grouped)}
