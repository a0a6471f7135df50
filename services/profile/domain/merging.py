"""Merging customers and splitting them again: the pure part.

A merge folds each merged-away customer into the survivor with the same rules
that apply an event (:mod:`services.profile.domain.traits`: latest event time
wins, provenance kept), so folding is order-independent and idempotent — the
property the store's roll-forward of an interrupted merge relies on. A split
picks the stored events that belong to the identifiers split off and rebuilds
the new customer from them.

Every merge, refused link, link and split is a :class:`MergeLogEntry`; its id
derives from what caused it, so recording it again after a crash is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from services.profile.domain.consent import fold_consents
from services.profile.domain.customer import Customer, IngestedEvent, apply_event
from services.profile.domain.identity import ANONYMOUS_ID, Identity
from services.profile.domain.identity_slots import IdentitySlot
from services.profile.domain.traits import TraitState, fold_traits
from shared.events import derived_id

LogKind = Literal["merged", "refused", "linked", "split"]


@dataclass(frozen=True, slots=True)
class MergeLogEntry:
    """One line of a customer's merge log."""

    id: str
    customer_id: str
    kind: LogKind
    reason: str
    caused_by: str
    at: datetime
    identities: tuple[Identity, ...] = ()
    others: tuple[str, ...] = ()
    """merged: the customers merged in; refused: the identifier's owner; split: the new customer."""


@dataclass(frozen=True, slots=True)
class MergePlan:
    """Fold ``merged`` into ``survivor``, because of ``caused_by`` (an event id or
    ``operator:<subject>``)."""

    survivor: str
    merged: tuple[str, ...]
    caused_by: str
    reason: str
    at: datetime
    identities: tuple[Identity, ...] = ()
    slots: tuple[IdentitySlot, ...] = ()
    """The limit slots the merge claims (see ``identity_slots.merge_slots``)."""

    @property
    def log_id(self) -> str:
        return derived_id("merge", self.caused_by, self.survivor, *sorted(self.merged))

    def entry(self) -> MergeLogEntry:
        return MergeLogEntry(
            id=self.log_id,
            customer_id=self.survivor,
            kind="merged",
            reason=self.reason,
            caused_by=self.caused_by,
            at=self.at,
            identities=self.identities,
            others=tuple(sorted(self.merged)),
        )


def log_entry(
    kind: LogKind,
    customer_id: str,
    reason: str,
    caused_by: str,
    at: datetime,
    identities: Sequence[Identity] = (),
    others: Sequence[str] = (),
) -> MergeLogEntry:
    """An entry whose id derives from its cause, so it is recorded once however often replayed."""
    keys = sorted(identity.key for identity in identities)
    return MergeLogEntry(
        id=derived_id("merge-log", kind, caused_by, customer_id, *keys),
        customer_id=customer_id,
        kind=kind,
        reason=reason,
        caused_by=caused_by,
        at=at,
        identities=tuple(identities),
        others=tuple(others),
    )


def fold(survivor: Customer, merged: Customer) -> Customer:
    """``survivor`` with ``merged`` folded in: each trait and consent joined statement by
    statement (:func:`~services.profile.domain.traits.fold_traits`, what applying both
    customers' events in event-time order gives), channels united, first/last seen
    widened. Commutative in effect and idempotent."""
    return replace(
        survivor,
        traits=fold_traits(survivor.traits, merged.traits),
        consents=fold_consents(survivor.consents, merged.consents),
        channels=survivor.channels | merged.channels,
        first_seen=_extreme(min, survivor.first_seen, merged.first_seen),
        last_seen=_extreme(max, survivor.last_seen, merged.last_seen),
    )


def _extreme(pick: Any, *moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return pick(present) if present else None


def events_to_split(
    events: Iterable[tuple[str, Sequence[Identity]]],
    leaving: Iterable[Identity],
    staying: Iterable[Identity],
) -> tuple[list[str], list[Identity]]:
    """The ids of the events that leave with the identifiers ``leaving``, and the
    anonymous ids that leave with them.

    An anonymous id of the original customer leaves too when every event that
    carried it carried a leaving identifier and no other identifier that stays
    (the call-center session id of the caller being split off). Then an event
    leaves when it carried a leaving identifier and none that stays; identifiers
    owned by neither customer (refused or blocked ones) do not hold it back.
    """
    carried = [(event_id, set(ids)) for event_id, ids in events]
    leave, stay = set(leaving), set(staying)
    firm = {identity for identity in stay if identity.type != ANONYMOUS_ID}
    along: list[Identity] = []
    for anonymous in sorted(stay - firm):
        mine = [ids for _, ids in carried if anonymous in ids]
        if mine and all(ids & leave and not ids & firm for ids in mine):
            along.append(anonymous)
    leave |= set(along)
    stay -= set(along)
    moved = [event_id for event_id, ids in carried if ids & leave and not ids & stay]
    return moved, along


def said_in(traits: Mapping[str, TraitState], event_ids: set[str]) -> dict[str, TraitState]:
    """What ``traits`` kept of the statements made by the events ``event_ids``: the part
    of a customer's traits that leaves with those events in a split."""
    found: dict[str, TraitState] = {}
    for name, state in traits.items():
        ops = [op for op in state.ops if op.event_id in event_ids]
        if ops:
            found[name] = TraitState.of(ops, state.strategy)
    return found


def rebuild(customer_id: str, events: Iterable[IngestedEvent]) -> Customer:
    """A customer as its events make it: applied in event-time order."""
    customer = Customer(id=customer_id)
    for event in sorted(events, key=lambda e: (e.timestamp, e.id)):
        customer = apply_event(customer, event).customer
    return customer
