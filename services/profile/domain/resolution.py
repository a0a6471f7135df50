"""Identity resolution: which customer an event belongs to, and which customers it merges.

:func:`resolve` takes an event's identities, the customers that own some of
them (each with what it owns, :class:`OwnerProfile`) and the
:class:`~services.profile.domain.resolution_rules.ResolutionRules`, and decides:

- blocked placeholder values (``anonymous``, ``test@example.com``…) are ignored;
- the rest are taken strongest first (user_id > email > phone > external ids >
  anonymous_id by default). Each one either joins the event's *cluster* — an
  unowned identifier is linked, an owned one brings its customer in, which
  MERGES that customer — or is refused with a reason, and the event resolves
  without it. A link is refused when it would give the cluster more identifiers
  of a type than its limit allows (two different user_ids; a sixth anonymous id
  this week), break the caps (merges, identifiers per customer), or when an
  anonymous id alone would join two known people (a shared kiosk: the anonymous
  id stays with its first owner);
- the survivor of a merge is the customer with the strongest identity, then the
  oldest (first seen), then the smallest id; an event whose identifiers are all
  new creates a customer whose id derives from the event, so reprocessing it
  after a crash creates no second one.

Taking identifiers strongest first and keeping each one that still fits is the
lexicographically best set of identifiers that obeys the rules: no rule can be
repaired by adding an identifier, so a weaker one never displaces a stronger
one (``tests/unit/profile/test_profile_resolution.py`` checks this against a
brute-force search over every subset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.profile.domain import UnresolvableEventError
from services.profile.domain.identity import ANONYMOUS_ID, Identity, new_customer_id
from services.profile.domain.resolution_rules import ResolutionRules


@dataclass(frozen=True, slots=True)
class OwnerProfile:
    """What resolution needs to know of a customer owning one of the event's identifiers."""

    customer_id: str
    identities: Mapping[Identity, datetime]
    """Every identifier the customer owns, with when it was first seen."""
    merges: int = 0
    first_seen: datetime | None = None
    apart: frozenset[str] = frozenset()
    """Customers an operator split this one from: never merged with it by resolution."""

    @property
    def known(self) -> bool:
        """Whether anything but anonymous ids says who this customer is."""
        return any(identity.type != ANONYMOUS_ID for identity in self.identities)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An identifier the event carried that was not linked, and why."""

    identity: Identity
    owner: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """The decision for one event.

    ``customer_id`` is the survivor (or the created customer); ``merged`` the
    customers to fold into it; ``attached`` the new identifiers linked to it.
    """

    customer_id: str
    created: bool
    attached: tuple[Identity, ...]
    merged: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()
    linked_by: tuple[Identity, ...] = ()
    """The owned identifiers that tie the event to the survivor and the merged customers."""


@dataclass
class _Cluster:
    """The customers and new identifiers one event joins, as they are accepted."""

    rules: ResolutionRules
    at: datetime
    customers: dict[str, OwnerProfile] = field(default_factory=dict)
    new: dict[Identity, datetime] = field(default_factory=dict)
    via: dict[str, list[Identity]] = field(default_factory=dict)

    def _identities(self, extra: Mapping[Identity, datetime]) -> dict[Identity, datetime]:
        found: dict[Identity, datetime] = dict(self.new)
        for profile in self.customers.values():
            found.update(profile.identities)
        found.update(extra)
        return found

    def _over_limit(self, adding: Mapping[Identity, datetime]) -> str | None:
        combined = self._identities(adding)
        for kind in sorted({identity.type for identity in adding}):
            limit = self.rules.limits.get(kind)
            if limit is None:
                continue
            counted = {
                identity
                for identity, first in combined.items()
                if identity.type == kind
                and (limit.window is None or first > self.at - limit.window)
            }
            if len(counted) > limit.count:
                per = "ever" if limit.window is None else f"per {limit.window}"
                return f"a customer may have at most {limit.count} {kind} {per}"
        if len(combined) > self.rules.max_identifiers:
            return f"a customer may have at most {self.rules.max_identifiers} identifiers"
        return None

    def refuse_new(self, identity: Identity) -> str | None:
        return self._over_limit({identity: self.at})

    def refuse_owner(self, profile: OwnerProfile, identity: Identity) -> str | None:
        split = set(self.customers) & profile.apart or {
            cid for cid, p in self.customers.items() if profile.customer_id in p.apart
        }
        if split:
            return f"an operator split this customer from {min(split)}; merge them explicitly"
        if identity.type == ANONYMOUS_ID and profile.known and self.known:
            return (
                "an anonymous id alone never joins two known people (a shared device); "
                "it stays with its first owner"
            )
        merges = sum(p.merges for p in self.customers.values()) + len(self.customers)
        if self.customers and merges + profile.merges > self.rules.max_merges:
            return f"a customer may take part in at most {self.rules.max_merges} merges"
        return self._over_limit(profile.identities)

    @property
    def known(self) -> bool:
        return any(i.type != ANONYMOUS_ID for i in self.new) or any(
            p.known for p in self.customers.values()
        )

    def add_owner(self, profile: OwnerProfile, identity: Identity) -> None:
        self.customers[profile.customer_id] = profile
        self.via.setdefault(profile.customer_id, []).append(identity)

    def survivor(self) -> str | None:
        if not self.customers:
            return None
        return min(self.customers.values(), key=self._survival_key).customer_id

    def _survival_key(self, profile: OwnerProfile) -> tuple[int, datetime, str]:
        strongest = min((self.rules.rank(i) for i in profile.identities), default=99)
        return (strongest, profile.first_seen or datetime.max.replace(tzinfo=self.at.tzinfo),
                profile.customer_id)  # fmt: skip


def resolve(
    event_id: str,
    identities: Iterable[Identity],
    owners: Mapping[Identity, str],
    profiles: Mapping[str, OwnerProfile],
    rules: ResolutionRules,
    at: datetime,
) -> Resolution:
    """Decide the customer of the event with ``identities`` observed at ``at``.

    ``owners`` maps each known identifier to its (root) customer id; ``profiles``
    holds each of those customers. Raises :class:`UnresolvableEventError` when
    the event carries no identifier that may match.
    """
    ordered = sorted(set(identities), key=rules.order)
    refused: list[Refusal] = []
    usable: list[Identity] = []
    for identity in ordered:
        reason = rules.blocked(identity)
        if reason is None:
            usable.append(identity)
        else:
            refused.append(Refusal(identity, owners.get(identity), reason))
    if not usable:
        raise UnresolvableEventError(
            f"event {event_id} carries no usable identity (userId, anonymousId, email, phone "
            "or externalIds; placeholder values such as `anonymous` are blocked); send at "
            "least a real userId or anonymousId"
        )
    cluster = _Cluster(rules, at)
    for identity in usable:
        owner = owners.get(identity)
        if owner is not None and owner in cluster.customers:
            cluster.via[owner].append(identity)
            continue
        if owner is not None and not cluster.customers and not cluster.new:
            # The first customer met joins nothing yet: there is nothing to check.
            cluster.add_owner(profiles.get(owner) or OwnerProfile(owner, {}), identity)
            continue
        if owner is None:
            reason = cluster.refuse_new(identity)
        else:
            reason = cluster.refuse_owner(profiles[owner], identity)
        if reason is not None:
            refused.append(Refusal(identity, owner, reason))
        elif owner is None:
            cluster.new[identity] = at
        else:
            cluster.add_owner(profiles[owner], identity)
    return _resolution(event_id, cluster, refused)


def _resolution(event_id: str, cluster: _Cluster, refused: list[Refusal]) -> Resolution:
    survivor = cluster.survivor()
    attached = tuple(cluster.new)
    linked_by = tuple(i for ids in cluster.via.values() for i in ids)
    if survivor is None:
        return Resolution(
            customer_id=new_customer_id(event_id),
            created=True,
            attached=attached,
            refused=tuple(refused),
        )
    return Resolution(
        customer_id=survivor,
        # Reprocessing the event that created the customer (after a crash) finds the
        # customer it created: that is still its creation.
        created=survivor == new_customer_id(event_id),
        attached=attached,
        merged=tuple(sorted(c for c in cluster.customers if c != survivor)),
        refused=tuple(refused),
        linked_by=linked_by,
    )
