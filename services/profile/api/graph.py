"""The profile subgraph: ``Customer`` (owned here), ``customer`` and ``customerByIdentity``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.scalars import JSON
from strawberry.types import Info

from services.profile.adapters.hygiene_ports import HygieneStore
from services.profile.adapters.ports import ProfileStore
from services.profile.api.graph_hygiene import HygieneQuery
from services.profile.api.loaders import ProfileLoaders
from services.profile.domain import InvalidIdentityError
from services.profile.domain.customer import Customer as CustomerState
from services.profile.domain.identity import IdentityRecord, canonical_identity
from services.profile.domain.pii import DEFAULT_POLICY, PiiPolicy
from shared.auth import Principal
from shared.subgraph import require_scope

READ = "customers:read"
PII = "pii:read"


@dataclass(frozen=True, slots=True)
class ProfileContext:
    """Per request: who asks, the store to answer from, what counts as PII, the loaders."""

    principal: Principal
    store: ProfileStore
    pii: PiiPolicy = DEFAULT_POLICY
    hygiene: HygieneStore | None = None
    loaders: ProfileLoaders = field(init=False)

    def __post_init__(self) -> None:
        # Built with the context, so once per request: batches and caches end with it.
        object.__setattr__(self, "loaders", ProfileLoaders(self.store))


ProfileInfo = Info[ProfileContext, None]


@strawberry.type
class Identity:
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime
    source: str


@strawberry.type
class Consent:
    purpose: str
    granted: bool
    updated_at: datetime
    source: str


@strawberry.type
class SegmentMembership:
    segment_id: strawberry.ID
    name: str
    entered_at: datetime


def _identity(record: IdentityRecord, policy: PiiPolicy | None) -> Identity:
    """``policy`` is None for callers with ``pii:read``, who see every value in clear."""
    value = record.identity.value
    return Identity(
        type=record.identity.type,
        value=value if policy is None else policy.mask_identity(record.identity.type, value),
        first_seen=record.first_seen,
        last_seen=record.last_seen,
        source=record.source,
    )


@strawberry.federation.type(keys=["id"])
class Customer:
    id: strawberry.ID
    first_seen: datetime | None
    last_seen: datetime | None
    channels: list[str]
    state: strawberry.Private[CustomerState]

    @classmethod
    def of(cls, state: CustomerState) -> Customer:
        return cls(
            id=strawberry.ID(state.id),
            first_seen=state.first_seen,
            last_seen=state.last_seen,
            channels=sorted(state.channels),
            state=state,
        )

    @strawberry.field
    async def identities(self, info: ProfileInfo) -> list[Identity]:
        """Identifiers of the customer; PII (emails, phones, a userId that is an email…)
        masked without pii:read."""
        policy = None if info.context.principal.has(PII) else info.context.pii
        records = await info.context.loaders.identities.load(self.state.id)
        return [_identity(record, policy) for record in records]

    @strawberry.field
    def traits(self, info: ProfileInfo) -> JSON:
        """Current trait values; PII (by name or by shape, nested too) masked without
        pii:read."""
        values = {name: trait.value for name, trait in sorted(self.state.traits.items())}
        if info.context.principal.has(PII):
            return JSON(values)
        return JSON(info.context.pii.mask_traits(values))

    @strawberry.field
    def consents(self) -> list[Consent]:
        return [
            Consent(purpose=c.purpose, granted=c.granted, updated_at=c.updated_at, source=c.source)
            for _, c in sorted(self.state.consents.items())
        ]

    @strawberry.field
    def segments(self) -> list[SegmentMembership]:
        return [
            SegmentMembership(
                segment_id=strawberry.ID(s.segment_id), name=s.name, entered_at=s.entered_at
            )
            for s in self.state.segments
        ]

    @classmethod
    async def resolve_reference(cls, info: ProfileInfo, id: strawberry.ID) -> Customer | None:
        require_scope(info.context.principal, READ)
        state = await info.context.loaders.customer.load(str(id))
        return cls.of(state) if state is not None else None


@strawberry.type
class Query(HygieneQuery):
    @strawberry.field
    async def customer(self, info: ProfileInfo, id: strawberry.ID) -> Customer | None:
        require_scope(info.context.principal, READ)
        state = await info.context.loaders.customer.load(str(id))
        return Customer.of(state) if state is not None else None

    @strawberry.field
    async def customer_by_identity(
        self, info: ProfileInfo, type: str, value: str
    ) -> Customer | None:
        """The customer owning an identity, its value canonicalized exactly as ingestion does.

        ``type``: user_id (or userId), anonymous_id (or anonymousId), email, phone, or an
        external id's own type (loyalty_id, ios.idfa…).
        """
        require_scope(info.context.principal, READ)
        try:
            identity = canonical_identity(type, value)
        except InvalidIdentityError as exc:
            raise GraphQLError(
                f"customerByIdentity: {exc}", extensions={"code": "BAD_USER_INPUT"}
            ) from None
        record = (await info.context.store.known([identity])).get(identity)
        if record is None:
            return None
        owner = record.customer_id
        state = (await info.context.store.customers([owner])).get(owner)
        return Customer.of(state) if state is not None else None


# Documents are parsed and validated once per text (the limits in shared.subgraph are checked
# before, per request): half of a small lookup's time went to validating the same query again.
# (Factories: strawberry keeps one LRU cache per maxsize across the per-request instances.)
schema = strawberry.federation.Schema(
    query=Query,
    types=[Customer],
    extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
)
