"""Limit slots: what makes a per-type identity limit hold under concurrent attachments.

Resolution checks a limit (one user_id ever) against the owners it READ. Two
shard consumers that read one customer at the same moment (its two devices'
anonymous ids arrive on different shards, one with userId U1, the other with
U2) would both see room for one more user_id and both attach. So each
attachment of an identifier whose type has a limit also claims a *slot*: the
key (customer, type, ordinal), where the ordinal is how many identifiers of
that type the decision saw the customer hold (the survivor's, after merges,
with what the batch attached before). Two deciders that saw the same count
claim the same slot; the store lets one in, the other's batch is decided again
against the fresh state and the link is refused with the rule's reason.

Only limits without a window ("ever") take slots. A windowed limit (five
anonymous ids per week) counts identifiers by when they were first seen, a
sliding window that no fixed slot key can stand for: it stays checked against
what the decision read (a race may let a customer exceed it by the number of
concurrent deciders, for that week). The identifier cap (1,000) is read-checked
too: a slot per attachment would cost every attachment an extra write.

A slot is no identity: the store keeps slots apart from identities, so they
never show up in the graph, lookups, exports or a merge's fold. ``holder`` is
derived from the attaching event and identifier (no personal data), so a
replayed batch recognises the slot it claimed before.

A merge claims slots too (:func:`merge_slots`): the places its losers' limited
identifiers take in the survivor (a login deciding on the survivor's count
before the merge collides with them), and a *seal* on each loser at its own
count (a login deciding on a loser that is being merged collides with that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.profile.domain.identity import Identity
from services.profile.domain.resolution_rules import ResolutionRules
from shared.events import derived_id


@dataclass(frozen=True, slots=True)
class IdentitySlot:
    """The ``ordinal``-th identifier of ``type`` that customer ``customer_id`` may hold."""

    customer_id: str
    type: str
    ordinal: int
    holder: str
    identity: Identity | None = None
    """The identifier that takes the place (``None`` for a merge's seal of a loser)."""

    @property
    def key(self) -> str:
        return f"{self.customer_id}|{self.type}|{self.ordinal}"


def slotted_types(rules: ResolutionRules) -> frozenset[str]:
    """The identity types whose attachments claim slots: limits without a window."""
    return frozenset(kind for kind, limit in rules.limits.items() if limit.window is None)


def slots_for(
    rules: ResolutionRules,
    customer_id: str,
    held: Iterable[Identity],
    attached: Sequence[Identity],
    event_id: str,
) -> list[IdentitySlot]:
    """The slots the attachment of ``attached`` to ``customer_id`` claims, given the
    identifiers the decision saw the customer hold (``held``, without ``attached``)."""
    kinds = slotted_types(rules)
    if not any(identity.type in kinds for identity in attached):
        return []
    counts: dict[str, int] = {}
    for identity in set(held) - set(attached):
        if identity.type in kinds:
            counts[identity.type] = counts.get(identity.type, 0) + 1
    slots = []
    for identity in attached:
        if identity.type not in kinds:
            continue
        ordinal = counts.get(identity.type, 0)
        counts[identity.type] = ordinal + 1
        holder = derived_id("identity-slot", event_id, identity.key)
        slots.append(IdentitySlot(customer_id, identity.type, ordinal, holder, identity))
    return slots


def merge_slots(
    rules: ResolutionRules,
    survivor: str,
    held: Mapping[str, Iterable[Identity]],
    caused_by: str,
) -> list[IdentitySlot]:
    """The slots a merge of the customers in ``held`` (each with the identifiers the
    decision saw it hold) into ``survivor`` claims."""
    kinds = slotted_types(rules)
    if not kinds:
        return []
    kept = {i for i in held.get(survivor, ()) if i.type in kinds}
    slots: list[IdentitySlot] = []
    for loser in sorted(set(held) - {survivor}):
        owned = {i for i in held[loser] if i.type in kinds}
        for kind in sorted(kinds):
            slots.append(_slot(loser, kind, sum(i.type == kind for i in owned), caused_by))
        for identity in sorted(owned - kept):
            ordinal = sum(i.type == identity.type for i in kept)
            slots.append(_slot(survivor, identity.type, ordinal, caused_by, identity))
            kept.add(identity)
    return slots


def _slot(
    customer_id: str, kind: str, ordinal: int, caused_by: str, identity: Identity | None = None
) -> IdentitySlot:
    holder = derived_id("merge-slot", caused_by, customer_id, kind, str(ordinal))
    return IdentitySlot(customer_id, kind, ordinal, holder, identity)
