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
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from services.journey.domain import JourneyError
from services.journey.domain.touchpoints import Touchpoint, touchpoint_of
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
    return from_touchpoint(touchpoint_of(event_id, data))


def from_touchpoint(point: Touchpoint) -> Interaction:
    """The interaction a stored touchpoint stands for (its original name, all its properties).

    A page or screen name with no snake_case form (only punctuation, say) reads as
    the kind (``page``) rather than failing the customer's whole recomputation.
    """
    channel = point.channel if point.channel in CHANNELS else "other"
    name = point.event_name or point.name or point.kind
    try:
        return interaction(
            point.id,
            point.customer_id,
            point.timestamp,
            channel,
            name,
            point.properties,
            kind=point.kind,
        )
    except JourneyError:
        return interaction(
            point.id,
            point.customer_id,
            point.timestamp,
            channel,
            point.kind,
            point.properties,
            kind=point.kind,
        )


@lru_cache(maxsize=4096)
def canonical_event(name: str) -> str:
    """An event name as stored and matched (snake_case), or as given when it has none."""
    try:
        return snake_case(name)
    except CanonicalError:
        return name


def stored(point: Touchpoint) -> Interaction:
    """:func:`from_touchpoint` for analytics over many touchpoints: the same ``event`` and
    channel, without re-checking what ingestion checked and without the properties."""
    if point.kind == "track" and point.name:
        event = point.name
    else:
        event = canonical_event(point.event_name or point.name or point.kind)
    return Interaction(
        point.id,
        point.customer_id,
        point.timestamp,
        point.channel if point.channel in CHANNELS else "other",
        event,
        point.event_name or point.name or point.kind,
        point.kind,
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
