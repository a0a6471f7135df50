"""The profile subgraph: ``Customer`` (owned here), ``customer`` and ``customerByIdentity``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.scalars import JSON
from strawberry.tools import merge_types
from strawberry.types import Info

from services.profile.adapters.hygiene_ports import HygieneStore
from services.profile.adapters.ports import ProfileStore
from services.profile.api import graph_customers, graph_identity, graph_segments
from services.profile.api.graph_consent import Consent, set_consent
from services.profile.api.graph_hygiene import HygieneQuery
from services.profile.api.graph_hygiene_merge import HygieneMergeMutation
from services.profile.api.graph_privacy import (
    PiiReadLog,
    PrivacyMutation,
    PrivacyQuery,
    profile_export_field,
)
from services.profile.api.graph_traits import (
    IdentifierCount,
    TraitProvenance,
    identifier_counts,
    provenance,
)
from services.profile.api.loaders import ProfileLoaders
from services.profile.domain import InvalidIdentityError
from services.profile.domain.customer import Customer as CustomerState
from services.profile.domain.identity import IdentityRecord, canonical_identity
from services.profile.domain.pii import DEFAULT_POLICY, PiiPolicy
from services.profile.privacy_jobs import PrivacyRuntime
from shared.auth import Principal
from shared.bus.ports import Publisher
from shared.subgraph import require_scope

READ = "customers:read"
PII = "pii:read"


@dataclass(frozen=True, slots=True)
class ProfileContext:
    """Per request: who asks, the store to answer from, what counts as PII, the loaders;
    the privacy jobs' runtime and the request id its audit log names."""

    principal: Principal
    store: ProfileStore
    pii: PiiPolicy = DEFAULT_POLICY
    publisher: Publisher | None = None
    """Where mutations publish what they cause (None: a read-only context)."""
    hygiene: HygieneStore | None = None
    loaders: ProfileLoaders = field(init=False)
    privacy: PrivacyRuntime | None = None
    request_id: str | None = None
    pii_reads: PiiReadLog = field(init=False)
    segments: graph_segments.SegmentAccess | None = None
    default_region: str | None = None
    """``THREADLINE_DEFAULT_PHONE_REGION``: where a queried national phone number is read."""

    def __post_init__(self) -> None:
        # Built with the context, so once per request: batches and caches end with it.
        object.__setattr__(self, "loaders", ProfileLoaders(self.store))
        audit = self.privacy.privacy if self.privacy is not None else None
        object.__setattr__(self, "pii_reads", PiiReadLog(audit, self.principal, self.request_id))


ProfileInfo = Info[ProfileContext, None]


@strawberry.type
class Identity:
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime
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
        if policy is None:
            await info.context.pii_reads.record(self.state.id, "Customer.identities")
        records = await info.context.loaders.identities.load(self.state.id)
        return [_identity(record, policy) for record in records]

    @strawberry.field
    async def traits(self, info: ProfileInfo) -> JSON:
        """Current trait values; PII (by name or by shape, nested too) masked without
        pii:read."""
        values = {
            name: trait.value for name, trait in sorted(self.state.traits.items()) if trait.present
        }
        if info.context.principal.has(PII):
            await info.context.pii_reads.record(self.state.id, "Customer.traits")
            return JSON(values)
        return JSON(info.context.pii.mask_traits(values))

    @strawberry.field
    async def trait_provenance(self, info: ProfileInfo) -> list[TraitProvenance]:
        """Each trait's value (masked like ``traits``, audited in clear) with the statement
        it comes from."""
        policy = None if info.context.principal.has(PII) else info.context.pii
        if policy is None:
            await info.context.pii_reads.record(self.state.id, "Customer.traitProvenance")
        return provenance(self.state.traits, policy)

    @strawberry.field
    async def identifier_counts(self, info: ProfileInfo) -> list[IdentifierCount]:
        """How many identifiers of each type the customer has."""
        return identifier_counts(await info.context.loaders.identities.load(self.state.id))

    @strawberry.field
    def consents(self) -> list[Consent]:
        """The current state per purpose (``channel`` null) and per contact channel."""
        return [Consent.of(c) for _, c in sorted(self.state.consents.items())]

    @strawberry.field
    async def consent_history(self, info: ProfileInfo) -> list[Consent]:
        """Every consent statement about the customer, oldest first."""
        entries = await info.context.store.consent_history(self.state.id)
        return [Consent.of(entry.statement) for entry in entries]

    @strawberry.field
    async def segments(self, info: ProfileInfo) -> list[SegmentMembership]:
        """The segments the customer is in now."""
        found = await graph_segments.customer_segments(info.context.segments, self.state)
        return [
            SegmentMembership(
                segment_id=strawberry.ID(s.segment_id), name=s.name, entered_at=s.entered_at
            )
            for s in found
        ]

    profile_export: JSON = strawberry.field(resolver=profile_export_field)

    @strawberry.field
    async def merge_log(
        self, info: ProfileInfo, first: int = 50
    ) -> list[graph_identity.MergeLogEntry]:
        """Merges, links, refused links and splits that shaped the customer, newest first."""
        return await graph_identity.merge_log(info.context, self.state.id, first)

    @classmethod
    async def resolve_reference(cls, info: ProfileInfo, id: strawberry.ID) -> Customer | None:
        require_scope(info.context.principal, READ)
        state = await info.context.loaders.customer.load(str(id))
        return cls.of(state) if state is not None else None


@strawberry.type
class Query(PrivacyQuery, HygieneQuery):
    segments: list[graph_segments.Segment] = strawberry.field(resolver=graph_segments.segments)
    segment: graph_segments.Segment | None = strawberry.field(resolver=graph_segments.segment)
    segment_condition_schema: JSON = strawberry.field(
        resolver=graph_segments.segment_condition_schema
    )
    customers: graph_customers.CustomerConnection = strawberry.field(
        resolver=graph_customers.customers
    )

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
            identity = canonical_identity(type, value, region=info.context.default_region)
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


@strawberry.type
class ProfileMutation:
    @strawberry.mutation
    async def set_consent(
        self,
        info: ProfileInfo,
        customer_id: strawberry.ID,
        status: str,
        purpose: str | None = None,
        channel: str | None = None,
        source: str = "operator",
    ) -> Consent:
        """Record a consent statement (now) as the customer's current state; needs the
        scope consent:write. ``status``: granted, denied or revoked; ``channel`` (email,
        sms, push, phone) makes it a channel-level statement (purpose marketing unless
        named); purposes: analytics, marketing, personalization, sale_sharing."""
        return await set_consent(info.context, str(customer_id), status, purpose, channel, source)


Mutation = merge_types(
    "Mutation",
    (
        ProfileMutation,
        graph_identity.IdentityMutation,
        PrivacyMutation,
        graph_segments.SegmentMutation,
        HygieneMergeMutation,
    ),
)


# Documents are parsed and validated once per text (the limits in shared.subgraph are checked
# before, per request): half of a small lookup's time went to validating the same query again.
# (Factories: strawberry keeps one LRU cache per maxsize across the per-request instances.)
schema = strawberry.federation.Schema(
    query=Query,
    mutation=Mutation,
    types=[Customer],
    extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
)
