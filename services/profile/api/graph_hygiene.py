"""``Query.hygieneReport`` (scope ``admin``): the latest data-hygiene reconciliation's findings.

Suspected duplicates list their customer ids oldest first: pass the finding's id
to ``mergeSuspectedDuplicate`` (``api/graph_hygiene_merge.py``) to merge them into
the oldest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from services.profile.adapters.hygiene_ports import HygieneCursorError, HygieneStore
from services.profile.domain.hygiene import KINDS, Finding
from shared.auth import ADMIN, Principal
from shared.subgraph import require_scope

MAX_PAGE = 1000


class HygieneContext(Protocol):
    """What the field needs of the profile's request context (``api/graph.py``)."""

    @property
    def principal(self) -> Principal: ...

    @property
    def hygiene(self) -> HygieneStore | None: ...


@strawberry.type
class HygieneCount:
    kind: str
    count: int


@strawberry.type
class HygieneFinding:
    id: strawberry.ID = strawberry.field(
        description="Pass to mergeSuspectedDuplicate (valid until a newer run replaces the report)."
    )
    kind: str = strawberry.field(
        description="suspected_duplicate, missing_traits or timestamp_anomaly"
    )
    customer_ids: list[strawberry.ID] = strawberry.field(
        description="Oldest first: for a suspected duplicate, the survivor to merge into."
    )
    reason: str
    event_ids: list[str] = strawberry.field(description="Example events (timestamp anomalies).")
    event_count: int

    @classmethod
    def of(cls, finding_id: str, finding: Finding) -> HygieneFinding:
        return cls(
            id=strawberry.ID(finding_id),
            kind=finding.kind,
            customer_ids=[strawberry.ID(cid) for cid in finding.customer_ids],
            reason=finding.reason,
            event_ids=list(finding.event_ids),
            event_count=finding.event_count,
        )


@strawberry.type
class HygieneReport:
    run_id: strawberry.ID
    generated_at: datetime
    customers_scanned: int
    events_scanned: int
    counts: list[HygieneCount]
    findings: list[HygieneFinding]
    next_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on the last page."
    )


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _checked(kind: str | None, first: int) -> None:
    if kind is not None and kind not in KINDS:
        raise _bad_input(
            f"hygieneReport: kind {kind!r} is unknown; use one of {', '.join(sorted(KINDS))}"
        )
    if not 1 <= first <= MAX_PAGE:
        raise _bad_input(f"hygieneReport: first must be between 1 and {MAX_PAGE}, got {first}")


async def hygiene_report(
    principal: Principal,
    store: HygieneStore | None,
    kind: str | None,
    first: int,
    after: str | None,
) -> HygieneReport | None:
    require_scope(principal, ADMIN)
    _checked(kind, first)
    if store is None:
        raise GraphQLError(
            "hygieneReport: this profile process has no hygiene store wired",
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    try:
        page = await store.report(kind, first, after)
    except HygieneCursorError as exc:
        raise _bad_input(f"hygieneReport: {exc}") from None
    run = page.run
    if run is None:
        return None
    return HygieneReport(
        run_id=strawberry.ID(run.id),
        generated_at=run.generated_at,
        customers_scanned=run.customers,
        events_scanned=run.events,
        counts=[HygieneCount(kind=k, count=run.counts.get(k, 0)) for k in KINDS],
        findings=[
            HygieneFinding.of(finding_id, finding)
            for finding_id, finding in zip(page.finding_ids, page.findings, strict=True)
        ],
        next_cursor=page.next_cursor,
    )


@strawberry.type
class HygieneQuery:
    @strawberry.field
    async def hygiene_report(
        self,
        info: Info[HygieneContext, None],
        kind: str | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> HygieneReport | None:
        """The latest data-hygiene reconciliation (scope admin); null before the first run.
        Suspected duplicates can be merged with mergeSuspectedDuplicate(findingId)."""
        context = info.context
        return await hygiene_report(context.principal, context.hygiene, kind, first, after)
