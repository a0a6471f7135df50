"""Evaluating a segment condition against one customer's facts at one moment.

``verdict`` answers whether the customer is a member *now* and when that answer can
next change without a new fact: a windowed event condition changes only when an
event enters its window (an event stamped in the future, reached) or leaves it (its
time plus the window, passed). Between those moments every node keeps its value, so
re-evaluating at the earliest of them (``recheck_at``) keeps membership exact as
windows expire, without any new event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.profile.domain.segments import (
    And,
    Comparison,
    Condition,
    ConsentIs,
    EventsMatch,
    HasIdentity,
    JourneyAt,
    Not,
    Or,
    ScoreIs,
    TraitIs,
)


@dataclass(frozen=True, slots=True)
class EventFact:
    """One stored event as conditions see it: track name (None otherwise), time, channel."""

    name: str | None
    timestamp: datetime
    channel: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """Everything a condition may test about one customer.

    ``consents`` maps purposes and ``channel_consents`` channels to granted, denied
    or revoked; ``journeys`` maps journey ids to their current stage; ``scores`` score
    names to their latest value.
    """

    customer_id: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    identity_types: frozenset[str] = frozenset()
    consents: Mapping[str, str] = field(default_factory=dict)
    channel_consents: Mapping[str, str] = field(default_factory=dict)
    channels: frozenset[str] = frozenset()
    events: tuple[EventFact, ...] = ()
    journeys: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    member: bool
    recheck_at: datetime | None
    """When the answer may change with no new fact; None: only a new fact can change it."""


def verdict(condition: Condition, facts: CustomerFacts, now: datetime) -> Verdict:
    moments = [m for m in _moments(condition, facts) if m > now]
    return Verdict(holds(condition, facts, now), min(moments) if moments else None)


def holds(condition: Condition, facts: CustomerFacts, now: datetime) -> bool:
    match condition:
        case And(items):
            return all(holds(item, facts, now) for item in items)
        case Or(items):
            return any(holds(item, facts, now) for item in items)
        case Not(item):
            return not holds(item, facts, now)
        case TraitIs(trait, ops):
            return all(trait_holds(op, facts.traits.get(trait, _MISSING), v) for op, v in ops)
        case HasIdentity(kind):
            return kind in facts.identity_types
        case ConsentIs(name, statuses, channel):
            states = facts.channel_consents if channel else facts.consents
            return states.get(name, "unknown") in statuses
        case EventsMatch():
            return _events_hold(condition, facts, now)
        case JourneyAt(journey, stages):
            return facts.journeys.get(journey) in stages
        case ScoreIs(score, compare):
            value = facts.scores.get(score)
            return value is not None and compares(compare, Decimal(str(value)))
    raise TypeError(f"not a condition: {condition!r}")


def in_window(node: EventsMatch, event: EventFact, now: datetime) -> bool:
    """Whether ``event`` counts for ``node`` at ``now``: matching, not in the future, and
    (for a windowed node) later than ``now - within``."""
    matches = event.channel == node.name if node.by_channel else event.name == node.name
    if not matches or event.timestamp > now:
        return False
    return node.within is None or event.timestamp > now - node.within


def _events_hold(node: EventsMatch, facts: CustomerFacts, now: datetime) -> bool:
    counted = [event for event in facts.events if in_window(node, event, now)]
    if node.by_channel and node.within is None and node.name in facts.channels:
        return True
    if node.sum_of is None:
        return compares(node.compare, Decimal(len(counted)))
    total = sum((_amount(e.properties.get(node.sum_of)) for e in counted), Decimal(0))
    return compares(node.compare, total)


def _moments(condition: Condition, facts: CustomerFacts) -> Iterable[datetime]:
    match condition:
        case And(items) | Or(items):
            for item in items:
                yield from _moments(item, facts)
        case Not(item):
            yield from _moments(item, facts)
        case EventsMatch():
            for event in facts.events:
                if (
                    event.channel == condition.name
                    if condition.by_channel
                    else (event.name == condition.name)
                ):
                    yield event.timestamp
                    if condition.within is not None:
                        yield event.timestamp + condition.within
        case _:
            return


def compares(compare: Comparison, value: Decimal) -> bool:
    return all(_compare(op, value, Decimal(str(operand))) for op, operand in compare.ops)


def _compare(op: str, left: Any, right: Any) -> bool:
    try:
        match op:
            case "eq":
                return bool(left == right)
            case "ne":
                return bool(left != right)
            case "gt":
                return bool(left > right)
            case "gte":
                return bool(left >= right)
            case "lt":
                return bool(left < right)
            case "lte":
                return bool(left <= right)
    except TypeError:
        return False
    raise ValueError(f"unknown comparison {op!r}")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def trait_holds(op: str, value: Any, operand: Any) -> bool:
    """One trait operator. A missing trait satisfies only ``ne`` and ``exists: false``."""
    if op == "exists":
        return (value is not _MISSING and value is not None) is bool(operand)
    if value is _MISSING:
        return op == "ne"
    if op in ("eq", "ne"):
        return _same(value, operand) == (op == "eq")
    if op == "in":
        return any(_same(value, item) for item in operand)
    if op == "contains":
        if isinstance(value, list):
            return any(_same(item, operand) for item in value)
        return isinstance(value, str) and isinstance(operand, str) and operand in value
    if op == "startsWith":
        return isinstance(value, str) and value.startswith(operand)
    if _is_number(value) and _is_number(operand):
        return _compare(op, Decimal(str(value)), Decimal(str(operand)))
    if isinstance(value, str) and isinstance(operand, str):
        return _compare(op, value, operand)
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(left: Any, right: Any) -> bool:
    # JSON equality: true is no 1, but 1 is 1.0.
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def _amount(value: Any) -> Decimal:
    """A property as a number for sums: numbers and decimal strings ("12.50"); else 0."""
    if isinstance(value, bool) or value is None:
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)
