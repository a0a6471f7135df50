"""Data hygiene: what a reconciliation of the stored profiles finds that the rules did not fix.

Identity rules merge only on shared identifiers and never join two user ids, so
one person can still hold two customers (a second account with another email,
the same name and phone). This module looks over customers and their events
and reports, with the customer ids and a reason:

- ``suspected_duplicate``: the same normalized name and phone number, or the
  same name and postal address, on several customers. An operator merges them
  with ``mergeCustomers``; the ids come oldest first (the natural survivor).
- ``missing_traits``: a known customer (one with any identifier besides an
  anonymous id) lacks a required trait.
- ``timestamp_anomaly``: a customer's ``lastSeen`` before its ``firstSeen`` or in
  the future, or events whose time lies far after or before their receipt.

Reasons name the rule, never the values (the report outlives an erasure).
Pure: the reconciliation job (``services/profile/hygiene_schedule.py``) feeds it.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.profile.domain import InvalidIdentityError
from services.profile.domain.identity import ANONYMOUS_ID, EMAIL, PHONE, canonical_identity
from shared.normalize import canonical

FindingKind = Literal["suspected_duplicate", "missing_traits", "timestamp_anomaly"]
KINDS: tuple[FindingKind, ...] = ("suspected_duplicate", "missing_traits", "timestamp_anomaly")
MAX_EXAMPLES = 5
"""Event ids kept as evidence per finding."""


@dataclass(frozen=True, slots=True)
class HygienePolicy:
    """What the reconciliation checks (``THREADLINE_HYGIENE_*`` settings)."""

    required_traits: tuple[str, ...] = ("email",)
    max_future: timedelta = timedelta(minutes=10)
    """How far after its receipt an event's time may lie (clock skew)."""
    max_lag: timedelta = timedelta(days=90)
    """How far before its receipt an event's time may lie (offline queues, backfills)."""


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What the reconciliation reads of one customer: current trait values, identifiers."""

    id: str
    traits: Mapping[str, Any]
    identities: tuple[tuple[str, str], ...] = ()
    """(type, value) pairs; anonymous ids may be left out."""
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventTimes:
    """An event's time and when the collector received it."""

    id: str
    customer_id: str
    timestamp: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    customer_ids: tuple[str, ...]
    reason: str
    event_ids: tuple[str, ...] = ()
    event_count: int = 0

    @property
    def key(self) -> str:
        """Stable across runs for the same finding (storage ids derive from it)."""
        return f"{self.kind}:{','.join(self.customer_ids)}:{self.reason}"


def normalized_name(traits: Mapping[str, Any]) -> str | None:
    """``firstName lastName`` (or ``name``) without accents, case or extra spaces."""
    first = _text(traits, "firstName", "first_name")
    last = _text(traits, "lastName", "last_name")
    name = f"{first} {last}" if first and last else _text(traits, "name")
    if not name:
        return None
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split()) or None


def _text(traits: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = traits.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def normalized_address(traits: Mapping[str, Any]) -> str | None:
    """Street, postal code (or city) and country of the ``address`` trait, normalized;
    None without a street."""
    address = traits.get("address")
    if not isinstance(address, Mapping):
        return None
    parts = [address.get("street"), address.get("postalCode") or address.get("city")]
    if not all(isinstance(part, str) and part.strip() for part in parts):
        return None
    country = address.get("country")
    parts.append(country if isinstance(country, str) else "")
    return "|".join("".join(str(part).casefold().split()) for part in parts)


def phones_of(customer: CustomerFacts) -> set[str]:
    """E.164 numbers of the customer: phone identities and the ``phone`` trait."""
    phones = {value for kind, value in customer.identities if kind == PHONE}
    raw = customer.traits.get("phone")
    if isinstance(raw, str):
        with contextlib.suppress(InvalidIdentityError):
            phones.add(canonical_identity(PHONE, raw, region=_region(customer.traits)).value)
    return phones


def emails_of(customer: CustomerFacts) -> set[str]:
    emails = {value for kind, value in customer.identities if kind == EMAIL}
    raw = customer.traits.get("email")
    if isinstance(raw, str):
        with contextlib.suppress(InvalidIdentityError):
            emails.add(canonical_identity(EMAIL, raw).value)
    return emails


def _region(traits: Mapping[str, Any]) -> str | None:
    address = traits.get("address")
    country = address.get("country") if isinstance(address, Mapping) else traits.get("country")
    return canonical.region_of(None, country)


def suspected_duplicates(customers: Iterable[CustomerFacts]) -> list[Finding]:
    """Customers sharing a normalized name with a phone number or a postal address."""
    by_phone: dict[tuple[str, str], list[CustomerFacts]] = defaultdict(list)
    by_address: dict[tuple[str, str], list[CustomerFacts]] = defaultdict(list)
    for customer in customers:
        name = normalized_name(customer.traits)
        if name is None:
            continue
        for phone in phones_of(customer):
            by_phone[name, phone].append(customer)
        address = normalized_address(customer.traits)
        if address is not None:
            by_address[name, address].append(customer)
    reasons: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for group in by_phone.values():
        if len(group) > 1:
            reasons[_oldest_first(group)].append(_phone_reason(group))
    for group in by_address.values():
        if len(group) > 1:
            reasons[_oldest_first(group)].append("same name and postal address")
    return [
        Finding("suspected_duplicate", ids, "; ".join(sorted(set(why))))
        for ids, why in sorted(reasons.items())
    ]


def _phone_reason(group: list[CustomerFacts]) -> str:
    emails = [frozenset(emails_of(customer)) for customer in group]
    if all(emails) and len(set(emails)) == len(emails):
        return "same name and phone number, different emails"
    return "same name and phone number"


def _oldest_first(group: list[CustomerFacts]) -> tuple[str, ...]:
    far_future = datetime.max.replace(tzinfo=None)

    def age(customer: CustomerFacts) -> tuple[datetime, str]:
        seen = customer.first_seen
        return (seen.replace(tzinfo=None) if seen else far_future, customer.id)

    return tuple(dict.fromkeys(customer.id for customer in sorted(group, key=age)))


def missing_traits(customers: Iterable[CustomerFacts], required: Iterable[str]) -> list[Finding]:
    """Known customers without every required trait (names compared loosely:
    ``firstName`` matches ``first_name``)."""
    wanted = {_loose(name): name for name in required}
    findings = []
    for customer in customers:
        if not any(kind != ANONYMOUS_ID for kind, _ in customer.identities):
            continue  # an anonymous visitor is not expected to have told us anything
        present = {_loose(name) for name, value in customer.traits.items() if _given(value)}
        missing = [name for loose, name in wanted.items() if loose not in present]
        if missing:
            reason = f"missing required traits: {', '.join(sorted(missing))}"
            findings.append(Finding("missing_traits", (customer.id,), reason))
    return findings


def _loose(name: str) -> str:
    return name.replace("_", "").replace("-", "").casefold()


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def seen_anomalies(
    customers: Iterable[CustomerFacts], now: datetime, policy: HygienePolicy
) -> list[Finding]:
    """``lastSeen`` before ``firstSeen``, or either in the future."""
    findings = []
    horizon = now + policy.max_future
    for customer in customers:
        first, last = customer.first_seen, customer.last_seen
        reasons = []
        if first is not None and last is not None and last < first:
            reasons.append("lastSeen is before firstSeen")
        if any(seen is not None and seen > horizon for seen in (first, last)):
            reasons.append("seen in the future")
        if reasons:
            findings.append(Finding("timestamp_anomaly", (customer.id,), "; ".join(reasons)))
    return findings


@dataclass
class EventTimeAnomalies:
    """Events whose time lies far after or before their receipt, one finding per customer
    and direction; fed event by event (the scan streams, it never holds every event)."""

    policy: HygienePolicy
    scanned: int = 0
    _found: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add(self, event: EventTimes) -> None:
        self.scanned += 1
        if event.timestamp > event.received_at + self.policy.max_future:
            direction = f"events timed more than {_span(self.policy.max_future)} after receipt"
        elif event.timestamp < event.received_at - self.policy.max_lag:
            direction = f"events timed more than {_span(self.policy.max_lag)} before receipt"
        else:
            return
        key = (event.customer_id, direction)
        self._counts[key] += 1
        examples = self._found.setdefault(key, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(event.id)

    def findings(self) -> list[Finding]:
        return [
            Finding(
                "timestamp_anomaly",
                (customer_id,),
                _counted(direction, self._counts[customer_id, direction]),
                event_ids=tuple(sorted(examples)),
                event_count=self._counts[customer_id, direction],
            )
            for (customer_id, direction), examples in sorted(self._found.items())
        ]


def _counted(direction: str, count: int) -> str:
    return f"{direction} ({count} event{'' if count == 1 else 's'})"


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        return f"{delta / timedelta(days=1):g} days"
    return f"{delta / timedelta(minutes=1):g} minutes"


def reconcile(
    customers: Iterable[CustomerFacts], now: datetime, policy: HygienePolicy
) -> list[Finding]:
    """Every customer-level finding (events are checked by :class:`EventTimeAnomalies`)."""
    facts = list(customers)
    return [
        *suspected_duplicates(facts),
        *missing_traits(facts, policy.required_traits),
        *seen_anomalies(facts, now, policy),
    ]
