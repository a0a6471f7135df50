"""The journey subgraph's per-request context and the errors its resolvers raise."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import GraphQLError
from strawberry.types import Info

from services.journey.adapters.ports import (
    AnalyticsStore,
    CatalogStore,
    JourneyStore,
    SegmentStore,
)
from services.journey.api.loaders import JourneyLoaders
from services.journey.domain import JourneyError
from shared.auth import Principal
from shared.pii_audit import PiiAuditSink, PiiReadRecorder

READ = "customers:read"
ADMIN = "admin"
PII = "pii:read"


@dataclass(frozen=True, slots=True)
class JourneyContext:
    """Per request: who asks, the stores to answer from, and the request's loaders.

    ``catalog`` and ``analytics`` are optional so that entity-only contexts (tests of
    the ``_entities`` batching) need only the store. ``audit`` is where reads of
    personal data in clear (``journeyExport``) are recorded, ``request_id`` what they name.
    """

    principal: Principal
    store: JourneyStore
    catalog: CatalogStore | None = None
    analytics: AnalyticsStore | None = None
    segments: SegmentStore | None = None
    audit: PiiAuditSink | None = None
    request_id: str | None = None
    loaders: JourneyLoaders = field(init=False)
    pii_reads: PiiReadRecorder = field(init=False)

    def __post_init__(self) -> None:
        # Built with the context, so once per request: batches and caches end with it.
        object.__setattr__(self, "loaders", JourneyLoaders(self.store))
        reads = PiiReadRecorder(self.audit, self.principal, self.request_id)
        object.__setattr__(self, "pii_reads", reads)

    def need_catalog(self) -> CatalogStore:
        if self.catalog is None:
            raise GraphQLError("journey definitions are not served by this process")
        return self.catalog

    def need_analytics(self) -> AnalyticsStore:
        if self.analytics is None:
            raise GraphQLError("journey analytics are not served by this process")
        return self.analytics

    async def members(self, segment_id: str | None) -> set[str] | None:
        """The customers of ``segment_id`` (None: no segment filter)."""
        if segment_id is None:
            return None
        if self.segments is None:
            raise GraphQLError("segment filters are not served by this process")
        return await self.segments.members(segment_id)


JourneyInfo = Info[JourneyContext, None]


def bad_input(exc: JourneyError) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"})
