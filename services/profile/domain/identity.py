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

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.profile.domain import InvalidIdentityError, UnresolvableEventError
from shared.events import derived_id
from shared.normalize import canonical
from shared.normalize.canonical import CanonicalError

# Identity types as Segment's and RudderStack's profile APIs name them (DESIGN.md §4);
# an external id's type is its own (``loyalty_id``, ``ios.idfa``).
USER_ID = "user_id"
ANONYMOUS_ID = "anonymous_id"
EMAIL = "email"
PHONE = "phone"
TYPE_ALIASES = {"userId": USER_ID, "anonymousId": ANONYMOUS_ID}
"""The message field names that queries accept for the two id types."""
MAX_VALUE_LENGTH = 512

# Lower ranks are stronger evidence of who the customer is; anonymous ids are weakest.
_RANK = {USER_ID: 0, EMAIL: 1, PHONE: 2, ANONYMOUS_ID: 9}
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


def canonical_identity(kind: str, value: str, *, region: str | None = None) -> Identity:
    """The one canonical form of an identity, for ingestion and for every query.

    Types are DESIGN.md's names (``userId``/``anonymousId`` accepted as aliases);
    emails are NFKC-normalized, stripped of invisible characters, trimmed and
    lower-cased; phones become E.164, a national number read in ``region`` (the
    event's country or locale when ingesting); ids and external ids are kept
    exactly as sent (they are opaque, and case matters to their issuers).
    Raises :class:`InvalidIdentityError` naming what is wrong.
    """
    kind = TYPE_ALIASES.get(kind, kind)
    if not kind or not kind.strip():
        raise InvalidIdentityError("an identity type is required (user_id, email, phone, …)")
    if not isinstance(value, str) or value == "":
        raise InvalidIdentityError(f"a {kind} must be a non-empty string")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidIdentityError(f"a {kind} must be at most {MAX_VALUE_LENGTH} characters")
    try:
        if kind == EMAIL:
            return Identity(EMAIL, canonical.email(value))
        if kind == PHONE:
            return Identity(PHONE, canonical.phone(value, region))
    except CanonicalError as exc:
        raise InvalidIdentityError(f"{kind} {exc}") from None
    return Identity(kind, value)


def identities_of(data: Mapping[str, Any]) -> tuple[Identity, ...]:
    """The identities a normalized event carries, strongest first, without duplicates.

    Built only here, from the event's ids, the person's email and phone traits
    (identify's ``traits``, ``context.traits`` on other calls) and
    ``context.externalIds``. Values the collector let through but that are no
    identity (an email trait that is not an address) are left out, not guessed.
    """
    context = data.get("context")
    context = context if isinstance(context, Mapping) else {}
    found: dict[Identity, None] = {}

    def add(kind: str, value: Any, region: str | None = None) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            with contextlib.suppress(InvalidIdentityError):
                found[canonical_identity(kind, value, region=region)] = None

    add(USER_ID, data.get("userId"))
    add(ANONYMOUS_ID, data.get("anonymousId"))
    if data.get("type") == "alias":
        # Segment's alias links the id a visitor had before (usually anonymous) to the new one.
        add(ANONYMOUS_ID, data.get("previousId"))
    for traits in (data.get("traits") if data.get("type") == "identify" else None,
                   context.get("traits")):  # fmt: skip
        if isinstance(traits, Mapping):
            add(EMAIL, traits.get("email"))
            add(PHONE, traits.get("phone"), _region(traits, context))
    for external in data.get("externalIds") or context.get("externalIds") or ():
        if isinstance(external, Mapping) and isinstance(external.get("type"), str):
            add(str(external["type"]), external.get("id"))
    return tuple(sorted(found, key=lambda identity: (identity.rank, identity)))


def _region(traits: Mapping[str, Any], context: Mapping[str, Any]) -> str | None:
    country = traits.get("country")
    address = traits.get("address")
    if country is None and isinstance(address, Mapping):
        country = address.get("country")
    return canonical.region_of(context.get("locale"), country)


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
