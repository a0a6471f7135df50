"""Minimal identity resolution: which customer an event belongs to.

Given the identities an event carries and the customers that already own some
of them, decide: create a customer, attach the event's unowned identities to
the one customer found, or — when several customers own identities of the
event — attribute the event to the strongest owner and report the others as
merge candidates. Moving identities and traits between customers is full
identity resolution (its own issue); this slice never moves an owned identity.

A new customer's id is derived from the event that created it, so reprocessing
that event after a crash resolves to the same id instead of a second customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.profile.domain import UnresolvableEventError
from shared.events import derived_id

# Lower ranks are stronger evidence of who the customer is; anonymous ids are weakest.
_RANK = {"userId": 0, "email": 1, "phone": 2, "anonymousId": 9}
_EXTERNAL_RANK = 3

SIGHTING_PRECISION = timedelta(hours=1)
"""How stale an identity's ``lastSeen`` may get before a sighting is written.

Rewriting every identity on every event would double the profile's writes;
the customer's own ``lastSeen`` stays exact, an identity's is exact to the hour.
"""


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """One identifier of a customer, e.g. ``Identity("email", "jo@example.com")``."""

    type: str
    value: str

    @property
    def rank(self) -> int:
        return _RANK.get(self.type, _EXTERNAL_RANK)

    @property
    def key(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """An identity owned by a customer, with when it was first and last seen."""

    identity: Identity
    customer_id: str
    first_seen: datetime
    last_seen: datetime
    source: str

    def seen(self, at: datetime) -> IdentityRecord:
        return replace(self, first_seen=min(self.first_seen, at), last_seen=max(self.last_seen, at))

    def worth_recording(self, at: datetime) -> bool:
        """Whether a sighting at ``at`` moves ``firstSeen``, or ``lastSeen`` by the precision."""
        return at < self.first_seen or at > self.last_seen + SIGHTING_PRECISION


@dataclass(frozen=True, slots=True)
class CustomerCreated:
    customer_id: str
    identities: tuple[Identity, ...]


@dataclass(frozen=True, slots=True)
class IdentitiesAttached:
    customer_id: str
    identities: tuple[Identity, ...]


@dataclass(frozen=True, slots=True)
class MergeDeferred:
    """Several customers own identities of one event; merging them is left to full resolution."""

    customer_id: str
    others: tuple[str, ...]


ResolutionEvent = CustomerCreated | IdentitiesAttached | MergeDeferred


@dataclass(frozen=True, slots=True)
class Resolution:
    """The decision for one event and the events it caused."""

    customer_id: str
    created: bool
    attached: tuple[Identity, ...]
    others: tuple[str, ...]
    events: tuple[ResolutionEvent, ...]


def new_customer_id(event_id: str) -> str:
    """The id of the customer an event creates: stable across reprocessing."""
    return derived_id("customer", event_id).replace("-", "")


def identities_of(data: Mapping[str, Any]) -> tuple[Identity, ...]:
    """The identities a normalized event carries, strongest first, without duplicates."""
    found: dict[Identity, None] = {}
    for entry in data.get("identities") or ():
        if isinstance(entry, Mapping) and entry.get("type") and entry.get("value"):
            found[Identity(str(entry["type"]), str(entry["value"]))] = None
    for field in ("userId", "anonymousId"):
        if data.get(field):
            found[Identity(field, str(data[field]))] = None
    if data.get("type") == "alias" and data.get("previousId"):
        # Segment's alias links the id a visitor had before (usually anonymous) to the new one.
        found[Identity("anonymousId", str(data["previousId"]))] = None
    return tuple(sorted(found, key=lambda identity: (identity.rank, identity)))


def resolve(
    event_id: str, identities: Iterable[Identity], owners: Mapping[Identity, str]
) -> Resolution:
    """Decide which customer the event with ``identities`` belongs to.

    ``owners`` maps each already-known identity to its customer id.
    """
    ordered = sorted(set(identities), key=lambda identity: (identity.rank, identity))
    if not ordered:
        raise UnresolvableEventError(
            f"event {event_id} carries no identity (userId, anonymousId, email, phone or "
            "externalIds); send at least a userId or an anonymousId"
        )
    owned = [(identity, owners[identity]) for identity in ordered if identity in owners]
    unowned = tuple(identity for identity in ordered if identity not in owners)
    if not owned:
        customer_id = new_customer_id(event_id)
        return Resolution(
            customer_id=customer_id,
            created=True,
            attached=unowned,
            others=(),
            events=(CustomerCreated(customer_id, unowned),),
        )
    # The strongest identity decides: a userId outranks the anonymous id of another device.
    customer_id = owned[0][1]
    others = tuple(sorted({owner for _, owner in owned if owner != customer_id}))
    events: list[ResolutionEvent] = []
    # Reprocessing the event that created the customer (after a crash) finds the customer
    # it created: that is still its creation, so the same customer.created event follows.
    recreated = customer_id == new_customer_id(event_id)
    if recreated:
        mine = tuple(i for i in ordered if owners.get(i, customer_id) == customer_id)
        events.append(CustomerCreated(customer_id, mine))
    elif unowned:
        events.append(IdentitiesAttached(customer_id, unowned))
    if others:
        events.append(MergeDeferred(customer_id, others))
    return Resolution(
        customer_id=customer_id,
        created=recreated,
        attached=unowned,
        others=others,
        events=tuple(events),
    )
