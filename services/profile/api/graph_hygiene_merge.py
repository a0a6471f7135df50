"""``Mutation.mergeSuspectedDuplicate`` (scope admin): act on a hygiene report's finding.

The finding's customers are merged into its oldest through the operator merge, the
merge log names the finding as the reason, and the finding leaves the report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from services.profile.adapters.hygiene_ports import HygieneStore
from services.profile.adapters.ports import ProfileStore
from services.profile.domain import ProfileError
from services.profile.hygiene_merge import merge_suspected_duplicate
from shared.auth import ADMIN, Principal
from shared.bus.ports import Publisher
from shared.subgraph import require_scope

FIELD = "mergeSuspectedDuplicate"


class HygieneMergeContext(Protocol):
    """What the mutation needs of the profile's request context (``api/graph.py``)."""

    @property
    def principal(self) -> Principal: ...
    @property
    def store(self) -> ProfileStore: ...
    @property
    def publisher(self) -> Publisher | None: ...
    @property
    def hygiene(self) -> HygieneStore | None: ...


def _wired(context: HygieneMergeContext) -> tuple[HygieneStore, Publisher]:
    if context.hygiene is None or context.publisher is None:
        raise GraphQLError(
            f"{FIELD}: this profile process has no hygiene store or event bus wired; run it "
            "with its clients (threadline serve profile)",
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    return context.hygiene, context.publisher


@strawberry.type
class HygieneMergeMutation:
    @strawberry.mutation
    async def merge_suspected_duplicate(
        self, info: Info[Any, None], finding_id: strawberry.ID, reason: str | None = None
    ) -> strawberry.ID:
        """Merge a suspected-duplicate finding of hygieneReport into its oldest customer
        (scope admin); returns the survivor's id. The finding leaves the report."""
        context: HygieneMergeContext = info.context
        require_scope(context.principal, ADMIN)
        hygiene, publisher = _wired(context)
        try:
            survivor = await merge_suspected_duplicate(
                hygiene,
                context.store,
                publisher,
                finding_id=str(finding_id),
                reason=reason,
                operator=context.principal.subject,
                at=datetime.now(UTC),
            )
        except ProfileError as exc:
            raise GraphQLError(f"{FIELD}: {exc}", extensions={"code": "BAD_USER_INPUT"}) from None
        return strawberry.ID(survivor)
