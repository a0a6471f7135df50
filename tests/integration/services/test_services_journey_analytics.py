"""Funnel and path figures served through the store and the graph equal a brute-force recount
over the raw touchpoints (property-based, on MongoDB)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.journey.adapters.mongo import INDEXES
from services.journey.domain.touchpoints import Touchpoint
from shared.events import format_time
from tests.integration.services.services_support import scratch_database
from tests.support.journey_ports import mongo_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = datetime(2026, 2, 1, tzinfo=UTC)
NAMES = {"Viewed": "viewed", "Added": "added", "Bought": "bought", "Other": "other"}
STEPS = ["Viewed", "Added", "Bought"]
CHANNELS = ("web", "store", "mobile_app")


@st.composite
def touchpoints(draw: st.DrawFn) -> list[Touchpoint]:
    count = draw(st.integers(0, 14))
    points = []
    for n in range(count):
        name = draw(st.sampled_from(sorted(NAMES)))
        points.append(
            Touchpoint(
                id=f"t{n:02d}",
                customer_id=draw(st.sampled_from(("c1", "c2", "c3"))),
                event_id=f"i{n}",
                kind="track",
                name=NAMES[name],
                channel=draw(st.sampled_from(CHANNELS)),
                # quarter hours over two days: ties and 30-minute gaps are common
                timestamp=T0 + timedelta(minutes=15 * draw(st.integers(0, 16))),
                properties={},
                event_name=name,
            )
        )
    return points


def _funnel_oracle(
    points: list[Touchpoint], start: datetime, end: datetime, within: timedelta
) -> list[int]:
    """DESIGN.md §5 read literally, over every combination of step events."""
    counts = [0] * len(STEPS)
    for customer in {p.customer_id for p in points}:
        pools = [
            [p for p in points if p.customer_id == customer and p.name == NAMES[step]]
            for step in STEPS
        ]
        for k in range(1, len(STEPS) + 1):
            if any(
                start <= path[0].timestamp < end
                and path[-1].timestamp - path[0].timestamp <= within
                and all(a.timestamp < b.timestamp for a, b in itertools.pairwise(path))
                for path in itertools.product(*pools[:k])
            ):
                counts[k - 1] += 1
    return counts


def _transitions_oracle(
    points: list[Touchpoint], start: datetime, end: datetime
) -> Counter[tuple[str, str]]:
    """Consecutive touchpoints of a customer in the period, less than 30 minutes apart."""
    pairs: Counter[tuple[str, str]] = Counter()
    for customer in {p.customer_id for p in points}:
        mine = sorted(
            (p for p in points if p.customer_id == customer and start <= p.timestamp < end),
            key=lambda p: (p.timestamp, p.id),
        )
        for a, b in itertools.pairwise(mine):
            if b.timestamp - a.timestamp < timedelta(minutes=30):
                pairs[(str(a.name), str(b.name))] += 1
    return pairs


QUERY = """query($steps: [String!]!, $from: DateTime!, $to: DateTime!, $within: Int!) {
  funnel(steps: $steps, from: $from, to: $to, withinHours: $within) {
    steps { name customers } }
  paths(from: $from, to: $to, top: 1000) { transitions { source target count } } }"""


async def _check(url: str, points: list[Touchpoint], start_h: int, hours: int, within: int) -> None:
    start = T0 + timedelta(hours=start_h)
    end = start + timedelta(hours=hours)
    async with scratch_database(url, INDEXES) as database:
        flow = mongo_flow(database)
        await flow.ports.touchpoints.save_touchpoints(points)
        data: Any = await flow.graph(
            QUERY,
            steps=STEPS,
            **{"from": format_time(start)},
            to=format_time(end),
            within=within,
        )
    assert [s["customers"] for s in data["funnel"]["steps"]] == _funnel_oracle(
        points, start, end, timedelta(hours=within)
    )
    served = Counter({(t["source"], t["target"]): t["count"] for t in data["paths"]["transitions"]})
    assert served == _transitions_oracle(points, start, end)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=touchpoints(),
    start_h=st.integers(0, 12),
    hours=st.integers(1, 30),
    within=st.sampled_from([0, 1, 2, 6, 336]),
)
def test_funnel_and_paths_through_the_store_equal_a_recount(infra, points, start_h, hours, within):
    asyncio.run(_check(infra.mongodb_url, points, start_h, hours, within))
