"""``Customer.journeyExport``: the journey service's part of a data-subject access report.

Needs ``admin`` and ``pii:read`` (as ``Customer.profileExport`` does). Every read is
recorded in the journey's own PII audit log (:mod:`shared.pii_audit`) before it is
answered. The customer's touchpoints (with their properties) come a page at a time,
newest first: ``first`` (1 to :data:`MAX_EXPORT_PAGE`) and ``after`` (the previous
page's ``touchpointsPage.endCursor``); the journeys (stage, history, handoffs) and the
frictions come complete on every page. Many customers in one request are read in one
store call per part (the subgraph's loaders), never one per customer.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from services.journey.adapters.ports import JourneyProgress, position
from services.journey.api.context import ADMIN, PII, JourneyInfo
from services.journey.api.loaders import TimelineRequest
from services.journey.domain import JourneyError
from services.journey.domain.timeline import decode_cursor
from shared.events import utcnow
from shared.reports import json_ready
from shared.subgraph import require_scope

FIELD = "Customer.journeyExport"
MAX_EXPORT_PAGE = 1000
DEFAULT_EXPORT_PAGE = 500


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(f"journeyExport: {message}", extensions={"code": "BAD_USER_INPUT"})


def _size(first: int) -> int:
    if not 1 <= first <= MAX_EXPORT_PAGE:
        raise _bad_input(
            f"ask for 1 to {MAX_EXPORT_PAGE} touchpoints a page (first: {first}); follow "
            "touchpointsPage.endCursor with `after` for the rest"
        )
    return first


def _journey(progress: JourneyProgress) -> dict[str, Any]:
    found: dict[str, Any] = json_ready(progress)
    return found


async def journey_export(
    info: JourneyInfo, customer_id: str, first: int, after: str | None
) -> dict[str, Any]:
    """One page of the customer's journey report, JSON-ready."""
    context = info.context
    require_scope(context.principal, ADMIN)
    require_scope(context.principal, PII)
    size = _size(first)
    try:
        start = decode_cursor(after) if after else None
    except JourneyError as exc:
        raise _bad_input(str(exc)) from None
    await context.pii_reads.record(customer_id, FIELD)
    timeline = await context.loaders.timeline.load(
        TimelineRequest(customer_id, first=size, after=start, channel=None)
    )
    journeys = await context.loaders.journeys.load(customer_id)
    frictions = await context.loaders.frictions.load(customer_id)
    touchpoints = timeline.page.touchpoints
    return {
        "generatedAt": json_ready(utcnow()),
        "customerId": customer_id,
        "touchpoints": [json_ready(t) for t in touchpoints],
        "touchpointsPage": {
            "total": timeline.total,
            "hasNextPage": timeline.page.has_next,
            "endCursor": position(touchpoints[-1]).cursor() if touchpoints else None,
        },
        "journeys": [_journey(p) for p in sorted(journeys, key=lambda p: p.journey_id)],
        "frictions": [json_ready(f) for f in frictions],
    }
