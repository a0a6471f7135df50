"""Segment definitions, memberships, and the decision of what a re-evaluation changes.

A membership record exists per (segment, customer) once the customer entered the
segment or needs a timed re-check. ``seq`` counts its transitions: a write is
conditional on the ``seq`` it was decided against (so two evaluators racing decide
one transition, not two), and the ``segment.entered`` / ``.exited`` event of a
transition derives its id from ``seq`` (so republishing it is idempotent).
``published`` is the outbox flag: a transition written but not yet confirmed on the
bus is published again by the next evaluation of that customer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.profile.domain.segment_eval import CustomerFacts, verdict
from services.profile.domain.segments import Condition, parse_condition


@dataclass(frozen=True, slots=True)
class SegmentDefinition:
    """One version of a segment; ``deleted`` segments have no members."""

    id: str
    name: str
    condition_json: Mapping[str, Any]
    version: int = 1
    description: str = ""
    deleted: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    condition: Condition = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "condition", parse_condition(self.condition_json))


@dataclass(frozen=True, slots=True)
class Membership:
    segment_id: str
    customer_id: str
    member: bool = False
    seq: int = 0
    changed_at: datetime | None = None
    version: int = 0
    recheck_at: datetime | None = None
    published: bool = True

    @property
    def key(self) -> str:
        return f"{self.segment_id}:{self.customer_id}"


@dataclass(frozen=True, slots=True)
class MembershipWrite:
    """The new record, written only if the stored one still has ``expected_seq``."""

    record: Membership
    expected_seq: int

    @property
    def transition(self) -> bool:
        return self.record.seq != self.expected_seq


def decide(
    customer_id: str,
    definitions: Sequence[SegmentDefinition],
    stored: Mapping[str, Membership],
    facts: CustomerFacts | None,
    now: datetime,
) -> list[MembershipWrite]:
    """What re-evaluating one customer changes; ``stored`` by segment id, ``facts`` None for
    a customer that no longer exists (member of nothing)."""
    writes: list[MembershipWrite] = []
    live = {d.id: d for d in definitions if not d.deleted}
    for segment_id in dict.fromkeys([*live, *stored]):
        old = stored.get(segment_id) or Membership(segment_id, customer_id)
        definition = live.get(segment_id)
        if definition is None or facts is None:
            member, recheck, version = False, None, old.version
        else:
            answer = verdict(definition.condition, facts, now)
            member, recheck, version = answer.member, answer.recheck_at, definition.version
        new = _next(old, member=member, recheck=recheck, version=version, now=now)
        if new != old:
            writes.append(MembershipWrite(new, old.seq))
    return writes


def _next(
    old: Membership, *, member: bool, recheck: datetime | None, version: int, now: datetime
) -> Membership:
    if member != old.member:
        return replace(
            old,
            member=member,
            seq=old.seq + 1,
            changed_at=now,
            version=version,
            recheck_at=recheck,
            published=False,
        )
    if old.seq == 0 and not member and recheck is None and old.recheck_at is None:
        return old  # never a member, nothing to re-check: no record needed
    return replace(old, recheck_at=recheck, version=version)
