"""The identity part of the profile subgraph: ``Customer.mergeLog``, ``mergeCustomers``,
``splitCustomer``.

Resolvers take the request's context through :class:`IdentityContext` (what
``graph.ProfileContext`` provides), so this module needs nothing of ``graph.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from services.profile.adapters.ports import ProfileStore
from services.profile.api.graph_privacy import PiiReadLog
from services.profile.domain import InvalidIdentityError, ProfileError
from services.profile.domain.identity import Identity, canonical_identity
from services.profile.domain.merging import MergeLogEntry as LogEntryState
from services.profile.domain.pii import PiiPolicy
from services.profile.merges import merge_customers, split_customer
from shared.auth import Principal
from shared.bus.ports import Publisher
from shared.subgraph import require_scope

READ = "customers:read"
PII = "pii:read"
ADMIN = "admin"


class IdentityContext(Protocol):
    @property
    def principal(self) -> Principal: ...
    @property
    def store(self) -> ProfileStore: ...
    @property
    def pii(self) -> PiiPolicy: ...
    @property
    def publisher(self) -> Publisher | None: ...
    @property
    def pii_reads(self) -> PiiReadLog: ...


@strawberry.type
class LoggedIdentity:
    type: str
    value: str


@strawberry.type
class MergeLogEntry:
    """One merge, refused link, link or split that shaped the customer, and why."""

    id: strawberry.ID
    customer_id: strawberry.ID = strawberry.field(
        description="The customer the entry was recorded for (a merged-in one, maybe)."
    )
    kind: str = strawberry.field(description="merged, refused, linked or split")
    reason: str
    caused_by: str = strawberry.field(
        description="The ingest event id, or operator:<subject> for an operator's command."
    )
    at: datetime
    identities: list[LoggedIdentity]
    others: list[strawberry.ID] = strawberry.field(
        description="merged: the customers merged in; refused: the identifier's owner; "
        "split: the customer on the other side."
    )

    @classmethod
    def of(cls, entry: LogEntryState, policy: PiiPolicy | None) -> MergeLogEntry:
        return cls(
            id=strawberry.ID(entry.id),
            customer_id=strawberry.ID(entry.customer_id),
            kind=entry.kind,
            reason=entry.reason,
            caused_by=entry.caused_by,
            at=entry.at,
            identities=[
                LoggedIdentity(
                    type=i.type,
                    value=i.value if policy is None else policy.mask_identity(i.type, i.value),
                )
                for i in entry.identities
            ],
            others=[strawberry.ID(o) for o in entry.others],
        )


async def merge_log(context: IdentityContext, customer_id: str, first: int) -> list[MergeLogEntry]:
    """The customer's merge log, newest first; identity values masked without pii:read,
    and audited (``Customer.mergeLog``) with it."""
    require_scope(context.principal, READ)
    if not 1 <= first <= 500:
        raise GraphQLError(
            f"mergeLog(first: {first}): ask for 1 to 500 entries",
            extensions={"code": "BAD_USER_INPUT"},
        )
    policy = None if context.principal.has(PII) else context.pii
    if policy is None:
        await context.pii_reads.record(customer_id, "Customer.mergeLog")
    entries = await context.store.merge_log(customer_id, first)
    return [MergeLogEntry.of(entry, policy) for entry in entries]


@strawberry.input
class IdentityInput:
    type: str
    value: str


@strawberry.type
class SplitResult:
    customer_id: strawberry.ID
    new_customer_id: strawberry.ID
    moved_events: int


def _bad_input(field: str, exc: Exception) -> GraphQLError:
    return GraphQLError(f"{field}: {exc}", extensions={"code": "BAD_USER_INPUT"})


def _publisher(context: IdentityContext) -> Publisher:
    if context.publisher is None:
        raise GraphQLError(
            "this profile process has no event bus to publish to; run it with its clients "
            "(threadline serve profile)",
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    return context.publisher


def _canonical(identities: list[IdentityInput]) -> list[Identity]:
    try:
        return [canonical_identity(i.type, i.value) for i in identities]
    except InvalidIdentityError as exc:
        raise _bad_input("splitCustomer.identities", exc) from None


@strawberry.type
class IdentityMutation:
    @strawberry.mutation
    async def merge_customers(
        self,
        info: Info[Any, None],
        survivor_id: strawberry.ID,
        merged_ids: list[strawberry.ID],
        reason: str,
    ) -> strawberry.ID:
        """Merge customers into a survivor (scope admin); returns the survivor's id."""
        context: IdentityContext = info.context
        require_scope(context.principal, ADMIN)
        try:
            survivor = await merge_customers(
                context.store,
                _publisher(context),
                survivor_id=str(survivor_id),
                merged_ids=[str(m) for m in merged_ids],
                reason=reason,
                operator=context.principal.subject,
                at=datetime.now(UTC),
            )
        except ProfileError as exc:
            raise _bad_input("mergeCustomers", exc) from None
        return strawberry.ID(survivor)

    @strawberry.mutation
    async def split_customer(
        self,
        info: Info[Any, None],
        customer_id: strawberry.ID,
        identities: list[IdentityInput],
        reason: str,
    ) -> SplitResult:
        """Split identifiers, and the history that was theirs, off a customer to a new one
        (scope admin)."""
        context: IdentityContext = info.context
        require_scope(context.principal, ADMIN)
        try:
            split = await split_customer(
                context.store,
                _publisher(context),
                customer_id=str(customer_id),
                identities=_canonical(identities),
                reason=reason,
                operator=context.principal.subject,
                at=datetime.now(UTC),
            )
        except ProfileError as exc:
            raise _bad_input("splitCustomer", exc) from None
        return SplitResult(
            customer_id=strawberry.ID(split.customer_id),
            new_customer_id=strawberry.ID(split.new_customer_id),
            moved_events=len(split.ingest_ids),
        )
