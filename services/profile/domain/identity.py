"""Identities: their canonical form, how an event's are read, and their stored records.

Deciding which customer an event belongs to (and which customers it merges) is
:mod:`services.profile.domain.resolution`; its configurable rules are
:mod:`services.profile.domain.resolution_rules`.

A new customer's id is derived from the event that created it, so reprocessing
that event after a crash resolves to the same id instead of a second customer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.profile.domain import InvalidIdentityError
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
