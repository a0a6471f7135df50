"""The journey service's handlers and graph on MongoDB (SecantusDB) and on the in-memory twins:
stages, handoffs, frictions, triggers, identity changes, and the events they publish."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.journey.adapters.mongo import INDEXES
from services.journey.handlers import handle_due, handle_events
from shared.events import CloudEvent, derived_id, format_time
from tests.integration.services.services_support import scratch_database
from tests.support.journey_ports import Flow, memory_flow, mongo_flow
from tests.support.resolved_events import resolved

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 2, 1, 10, tzinfo=UTC)


@pytest.fixture(params=["mongodb", "in_memory"])
async def flow(request, infra) -> AsyncIterator[Flow]:
    if request.param == "in_memory":
        yield memory_flow()
        return
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        yield mongo_flow(database)


def when(days: float = 0, hours: float = 0) -> str:
    return format_time(DAY1 + timedelta(days=days, hours=hours))


def track(
    customer: str, message: str, name: str, channel: str, moment: str, **properties: Any
) -> CloudEvent:
    return resolved(
        "track",
        f"{customer}-{message}",
        customer,
        event=name,
        properties=properties,
        timestamp=moment,
        context={"channel": channel},
    )


def retail(customer: str) -> list[CloudEvent]:
    """Wishlist on the web, a visit to the store, the purchase in the app."""
    return [
        track(customer, "w", "Product Added to Wishlist", "web", when(0), product_id="p1"),
        track(customer, "s", "Store Visited", "store", when(2), store_id="s9"),
        track(customer, "o", "Order Completed", "mobile_app", when(4), order_id="o1"),
    ]


def identity_event(kind: str, customer: str, **data: Any) -> CloudEvent:
    return CloudEvent(
        type=f"io.threadline.customer.{kind}",
        source="threadline/profile",
        id=derived_id(kind, customer, *map(str, data.values())),
        subject=customer,
        partitionkey=customer,
        data={"customerId": customer, "at": when(5), **data},
    )


JOURNEYS = """journeys { journeyId journeyVersion stage enteredAt
  history { stage channel enteredAt exitedAt timeInStageSeconds }
  handoffs { fromChannel toChannel } }"""


async def test_retail_example_is_one_journey_with_two_handoffs(flow):
    await handle_events(retail("ana"), flow.ports)

    customer = await flow.customer(
        "ana", JOURNEYS + " timeline(first: 5) { edges { node { eventName properties } } }"
    )

    (purchase,) = customer["journeys"]
    assert (purchase["journeyId"], purchase["stage"]) == ("purchase", "purchase")
    assert [(h["stage"], h["channel"]) for h in purchase["history"]] == [
        ("consideration", "web"),
        ("purchase", "mobile_app"),
    ]
    assert purchase["history"][0]["timeInStageSeconds"] == 4 * 86400
    assert purchase["handoffs"] == [
        {"fromChannel": "web", "toChannel": "store"},
        {"fromChannel": "store", "toChannel": "mobile_app"},
    ]
    nodes = [edge["node"] for edge in customer["timeline"]["edges"]]
    assert nodes[-1] == {
        "eventName": "Product Added to Wishlist",
        "properties": {"product_id": "p1"},
    }


def _shape(customer: dict[str, Any]) -> Any:
    return [
        (
            j["journeyId"],
            j["stage"],
            [(h["stage"], h["channel"], h["enteredAt"]) for h in j["history"]],
        )
        for j in customer["journeys"]
    ]


async def test_out_of_order_delivery_yields_the_same_stages(flow):
    in_order = [
        *retail("inorder"),
        track("inorder", "r", "Product Reviewed", "web", when(6)),
        track("inorder", "t", "Support Ticket Opened", "call_center", when(7)),
    ]
    shuffled = [
        track("shuffled", e.data["messageId"].split("-", 1)[1], e.data["eventName"],
              e.data["channel"], e.data["timestamp"], **e.data["properties"])
        for e in in_order
    ]  # fmt: skip
    random.Random(7).shuffle(shuffled)

    await handle_events(in_order, flow.ports)
    for event in shuffled:  # one at a time, latest first in places
        await handle_events([event], flow.ports)
    await handle_events(shuffled[:2], flow.ports)  # and a redelivery

    expected = await flow.customer("inorder", JOURNEYS)
    assert _shape(await flow.customer("shuffled", JOURNEYS)) == _shape(expected)
    assert [j["stage"] for j in expected["journeys"]] == ["advocacy", "contact"]


async def test_stage_changed_is_published_once_per_change(flow):
    events = retail("bo")

    await handle_events(events[2:], flow.ports)  # the order first: straight to purchase
    await handle_events(events, flow.ports)  # then everything, the order again included
    await handle_events(events, flow.ports)  # a replayed batch

    changes = flow.publisher.of_type("journey.stage_changed")
    assert [(e.data["stage"], e.data["previousStage"]) for e in changes] == [
        ("purchase", None),
        ("consideration", None),  # the late wishlist moved the journey's start earlier
    ]
    assert len({e.id for e in changes}) == len(changes)
    assert changes[1].data == {
        "customerId": "bo",
        "journeyId": "purchase",
        "journeyVersion": 1,
        "stage": "consideration",
        "previousStage": None,
        "enteredAt": when(0),
        "causedBy": events[0].id,
    }
    assert changes[0].subject == changes[0].partitionkey == "bo"


Step = tuple[str, str, float, dict[str, Any]]
NPS: dict[str, Any] = {"survey": "nps"}
ORDER: Step = ("Order Completed", "store", 0, {})
SCENARIOS: dict[str, tuple[list[Step], list[Step]]] = {
    "repeated_contacts": (
        [("Support Ticket Opened", "call_center", 0, {}), ("Support Ticket Opened", "chat", 6, {})],
        [("Support Ticket Opened", "call_center", 0, {}), ("Support Ticket Opened", "chat", 8, {})],
    ),
    "abandoned_checkout": (
        [("Checkout Started", "web", 0, {})],
        [("Checkout Started", "web", 0, {}), ("Order Completed", "web", 0.1, {})],
    ),
    "payment_failure": (
        [("Payment Failed", "web", 0, {})],
        [("Payment Info Entered", "web", 0, {"status": "ok"})],
    ),
    "channel_ping_pong": (
        [("Support Contacted", c, h / 24, {}) for h, c in enumerate(("web", "chat") * 2)],
        [("Support Contacted", c, h / 24, {}) for h, c in enumerate(("web", "chat", "web"))],
    ),
    "negative_survey_after_touchpoint": (
        [ORDER, ("Survey Answered", "email", 0.1, NPS | {"score": 3})],
        [ORDER, ("Survey Answered", "email", 0.1, NPS | {"score": 7})],
    ),
    "broken_promise": (
        [("Order Completed", "web", 0, {"order_id": "o1", "promised_delivery_date": "2026-02-03"}),
         ("Order Delivered", "partner", 4, {"order_id": "o1"})],
        [("Order Completed", "web", 0, {"order_id": "o1", "promised_delivery_date": "2026-02-03"}),
         ("Order Delivered", "partner", 2.4, {"order_id": "o1"})],
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
async def test_each_friction_detector_fires_on_its_scenario_and_not_on_a_near_miss(flow, kind):
    fires, near_miss = SCENARIOS[kind]
    for customer, story in (("hit", fires), ("miss", near_miss)):
        await handle_events(
            [
                track(customer, f"m{n}", name, channel, when(days), **properties)
                for n, (name, channel, days, properties) in enumerate(story)
            ],
            flow.ports,
        )

    hit = (await flow.customer("hit", "frictions { id kind evidence stage channel }"))["frictions"]
    miss = (await flow.customer("miss", "frictions { kind }"))["frictions"]

    (found,) = [f for f in hit if f["kind"] == kind]  # four contacts are repeated ones too
    assert [f["kind"] for f in miss if f["kind"] == kind] == []
    published = flow.publisher.of_type("journey.friction_detected")
    assert [e.data["frictionId"] for e in published if e.data["kind"] == kind] == [found["id"]]
    assert found["evidence"]


async def test_a_merge_merges_timelines_and_stages_and_later_events_follow(flow):
    wishlist, visit, order = retail("x")
    await handle_events(
        [track("keep", "w", "Product Added to Wishlist", "web", when(0))], flow.ports
    )
    await handle_events([track("gone", "o", "Order Completed", "mobile_app", when(4))], flow.ports)

    await handle_events([identity_event("merged", "keep", mergedIds=["gone"],
                                        causedBy="e1", reason="login")], flow.ports)  # fmt: skip
    await handle_events([track("gone", "s", "Store Visited", "store", when(2))], flow.ports)

    kept = await flow.customer("keep", JOURNEYS + " timeline { totalCount }")
    gone = await flow.customer("gone", "journeys { stage } timeline { totalCount }")
    assert kept["timeline"]["totalCount"] == 3
    assert [(h["stage"], h["channel"]) for h in kept["journeys"][0]["history"]] == [
        ("consideration", "web"),
        ("purchase", "mobile_app"),
    ]
    assert len(kept["journeys"][0]["handoffs"]) == 2
    assert gone == {"journeys": [], "timeline": {"totalCount": 0}}
    del wishlist, visit, order


async def test_a_split_moves_the_listed_events_and_an_erasure_forgets_the_customer(flow):
    events = retail("whole")
    await handle_events(events, flow.ports)

    split = identity_event("split", "whole", newCustomerId="part", identities=[],
                           ingestIds=[events[2].data["ingestId"]])  # fmt: skip
    await handle_events([split], flow.ports)
    whole = await flow.customer("whole", "journeys { stage } timeline { totalCount }")
    part = await flow.customer("part", "journeys { stage } timeline { totalCount }")
    assert whole == {"journeys": [{"stage": "consideration"}], "timeline": {"totalCount": 2}}
    assert part == {"journeys": [{"stage": "purchase"}], "timeline": {"totalCount": 1}}

    await handle_events(
        [identity_event("erased", "part", erasedIds=["part"], jobId="j1")], flow.ports
    )
    await handle_events([track("part", "late", "Product Viewed", "web", when(9))], flow.ports)
    assert await flow.customer("part", "journeys { stage } timeline { totalCount }") == {
        "journeys": [],
        "timeline": {"totalCount": 0},
    }


INACTIVE = """mutation { createTrigger(trigger: {id: "nudge", type: "inactive",
  journeyId: "purchase", stage: "consideration", durationSeconds: 259200,
  notBefore: "2026-01-01T00:00:00Z"}) { id rule } }"""


async def test_an_inactivity_trigger_fires_on_time_without_a_new_event(flow):
    await flow.graph(INACTIVE)
    flow.clock.now = DAY1 + timedelta(hours=1)
    await handle_events([track("quiet", "w", "Product Viewed", "web", when(0))], flow.ports)
    assert flow.publisher.of_type("journey.triggered") == []

    flow.clock.now = DAY1 + timedelta(days=2)
    assert await handle_due(flow.ports, lease_seconds=60, limit=10) == 0
    flow.clock.now = DAY1 + timedelta(days=3, minutes=1)
    assert await handle_due(flow.ports, lease_seconds=60, limit=10) == 1
    assert await handle_due(flow.ports, lease_seconds=60, limit=10) == 0

    (fired,) = flow.publisher.of_type("journey.triggered")
    assert fired.data["triggerId"] == "nudge"
    assert fired.data["at"] == when(3)
    assert fired.data["rule"] == "inactive in stage purchase/consideration for 259200s"


TIMELINE = """query($r: [_Any!]!, $first: Int, $after: String, $last: Int, $before: String,
  $event: String, $from: DateTime, $to: DateTime) {
  _entities(representations: $r) { ... on Customer {
    timeline(first: $first, after: $after, last: $last, before: $before, event: $event,
             from: $from, to: $to) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { node { id eventName } } } } } }"""


async def test_timeline_pages_both_ways_and_filters_by_event_and_time(flow):
    names = ["Product Viewed", "Store Visited", "Product Viewed", "Cart Viewed", "Product Viewed"]
    events = [track("tl", f"m{n}", name, "web", when(hours=n)) for n, name in enumerate(names)]
    await handle_events(events, flow.ports)
    ids = [e.id for e in events]

    async def page(**variables: Any) -> dict[str, Any]:
        data = await flow.graph(TIMELINE, r=[{"__typename": "Customer", "id": "tl"}], **variables)
        found: dict[str, Any] = data["_entities"][0]["timeline"]
        found["ids"] = [edge["node"]["id"] for edge in found.pop("edges")]
        return found

    first = await page(first=2)
    second = await page(first=2, after=first["pageInfo"]["endCursor"])
    back = await page(last=2, before=second["pageInfo"]["startCursor"])
    oldest = await page(last=2)
    viewed = await page(event="Product Viewed", **{"from": when(hours=1)}, to=when(hours=4))

    assert (first["ids"], second["ids"], back["ids"]) == (ids[:2:-1], ids[2:0:-1], ids[:2:-1])
    assert first["pageInfo"]["hasNextPage"]
    assert not first["pageInfo"]["hasPreviousPage"]
    assert second["pageInfo"]["hasPreviousPage"]
    assert back["pageInfo"]["hasNextPage"]
    assert not back["pageInfo"]["hasPreviousPage"]
    assert oldest["ids"] == [ids[1], ids[0]]
    assert oldest["pageInfo"]["hasPreviousPage"]
    assert (viewed["ids"], viewed["totalCount"]) == ([ids[2]], 1)
    assert first["totalCount"] == 5


UPDATE = """mutation($d: JourneyInput!) { updateJourney(definition: $d) { id version } }"""
SHORT_PURCHASE = {
    "id": "purchase",
    "name": "Purchase (short)",
    "stages": [
        {"key": "browse", "enteredBy": [{"events": ["Product Viewed"]}]},
        {"key": "buy", "enteredBy": [{"events": ["Order Completed"], "channels": ["web"]}]},
    ],
}


async def test_journey_definitions_are_versioned_through_the_graph(flow):
    shipped = await flow.graph("{ journeys { id version stages { key } } }")
    updated = await flow.graph(UPDATE, d=SHORT_PURCHASE)
    versions = await flow.graph('{ journeys(id: "purchase") { version name } }')
    await handle_events(
        [
            track("v2", "a", "Product Viewed", "web", when(0)),
            track("v2", "b", "Order Completed", "store", when(1)),
            track("v2", "c", "Order Completed", "web", when(2)),
        ],
        flow.ports,
    )
    customer = await flow.customer("v2", "journeys { journeyId journeyVersion name stage }")

    assert [(j["id"], j["version"]) for j in shipped["journeys"]] == [
        ("purchase", 1),
        ("service", 1),
    ]
    assert updated["updateJourney"] == {"id": "purchase", "version": 2}
    assert [v["version"] for v in versions["journeys"]] == [1, 2]
    assert customer["journeys"] == [
        {"journeyId": "purchase", "journeyVersion": 2, "name": "Purchase (short)", "stage": "buy"}
    ]
    again = await schema_errors(
        flow, UPDATE.replace("updateJourney", "createJourney"), d=SHORT_PURCHASE
    )
    assert "exists; change it with updateJourney" in again
    bad = {**SHORT_PURCHASE, "stages": [{"key": "x", "enteredBy": [{"channels": ["fax"]}]}]}
    assert "not channels" in await schema_errors(flow, UPDATE, d=bad)


async def schema_errors(flow: Flow, query: str, **variables: Any) -> str:
    from services.journey.api.graph import schema

    result = await schema.execute(query, variable_values=variables, context_value=flow.context())
    assert result.errors, result.data
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT"}
    return str(result.errors[0].message)


DASHBOARDS = """query($from: DateTime!, $to: DateTime!) {
  funnel(steps: ["Product Added to Wishlist", "Store Visited", "Order Completed"],
         from: $from, to: $to, breakdown: "channel") {
    steps { name customers conversionFromPrevious dropOff droppedCustomers }
    timeToConvert { samples p50Seconds }
    breakdown { key funnel { steps { customers } } } }
  paths(from: $from, to: $to, by: "channel", sessionGapMinutes: 0, step: "store") {
    transitions { source target count } into { path count } outOf { path count } }
  stageMetrics(journeyId: "purchase") { stages { stage samples p50Seconds } continuityRate }
  painPoints(from: $from, to: $to) { stage channel kind count } }"""


async def test_dashboards_answer_from_the_stored_journeys(flow):
    await handle_events([*retail("a"), *retail("b")[:2]], flow.ports)
    await handle_events(
        [
            track("c", "1", "Support Ticket Opened", "call_center", when(1)),
            track("c", "2", "Support Ticket Opened", "chat", when(2)),
        ],
        flow.ports,
    )

    data = await flow.graph(DASHBOARDS, **{"from": when(-1)}, to=when(10))

    steps = data["funnel"]["steps"]
    assert [(s["customers"], s["dropOff"]) for s in steps] == [(2, 0), (2, 0), (1, 1)]
    assert steps[2]["droppedCustomers"] == ["b"]
    assert steps[2]["conversionFromPrevious"] == 0.5
    assert data["funnel"]["timeToConvert"] == {"samples": 1, "p50Seconds": 4 * 86400.0}
    assert data["funnel"]["breakdown"] == [
        {"key": "web", "funnel": {"steps": [{"customers": 2}, {"customers": 2}, {"customers": 1}]}}
    ]
    paths = data["paths"]
    assert {(t["source"], t["target"]): t["count"] for t in paths["transitions"]} == {
        ("web", "store"): 2,
        ("store", "mobile_app"): 1,
        ("call_center", "chat"): 1,
    }
    assert paths["into"] == [{"path": ["web"], "count": 2}]
    assert paths["outOf"] == [{"path": [], "count": 1}, {"path": ["mobile_app"], "count": 1}]
    metrics = data["stageMetrics"]
    assert metrics["stages"] == [
        {"stage": "consideration", "samples": 1, "p50Seconds": 4 * 86400.0}
    ]
    assert metrics["continuityRate"] == 1.0
    assert data["painPoints"] == [
        {"stage": "contact", "channel": "chat", "kind": "repeated_contacts", "count": 1}
    ]


async def test_a_stage_stalled_beyond_its_p90_is_a_friction_and_not_before(flow):
    from services.journey.handlers import refresh_stage_times

    for customer, days in (("s1", 1), ("s2", 2)):  # consideration lasted 1 and 2 days
        await handle_events(
            [
                track(customer, "v", "Product Viewed", "web", when(0)),
                track(customer, "o", "Order Completed", "web", when(days)),
            ],
            flow.ports,
        )
    flow.clock.now = DAY1 + timedelta(days=1)
    await handle_events([track("s3", "v", "Product Viewed", "store", when(0.5))], flow.ports)
    await refresh_stage_times(flow.ports)  # p90 of consideration: 2 days

    flow.clock.now = DAY1 + timedelta(days=2.4)  # 1.9 days in consideration: a near miss
    assert await handle_due(flow.ports, lease_seconds=60, limit=10) == 0
    flow.clock.now = DAY1 + timedelta(days=2.6)
    assert await handle_due(flow.ports, lease_seconds=60, limit=10) == 1

    (stalled,) = (await flow.customer("s3", "frictions { kind stage channel detectedAt }"))[
        "frictions"
    ]
    assert stalled == {
        "kind": "stalled_stage",
        "stage": "consideration",
        "channel": "store",
        "detectedAt": (DAY1 + timedelta(days=2.5)).isoformat(),
    }


async def test_attribution_splits_each_conversion_over_its_channels(flow):
    wishlist, visit, _ = retail("buyer")
    order = track(
        "buyer", "o", "Order Completed", "mobile_app", when(4), revenue=30, currency="EUR"
    )
    await handle_events([wishlist, visit, order], flow.ports)

    data = await flow.graph(
        """query($from: DateTime!, $to: DateTime!) {
          linear: attribution(conversion: "Order Completed", from: $from, to: $to) {
            channel conversions revenue }
          first: attribution(conversion: "order_completed", from: $from, to: $to, model: "first") {
            channel conversions revenue } }""",
        **{"from": when(-1)},
        to=when(10),
    )

    linear = {c["channel"]: (round(c["conversions"], 6), c["revenue"]) for c in data["linear"]}
    assert linear == {
        "web": (round(1 / 3, 6), pytest.approx(10.0)),
        "store": (round(1 / 3, 6), pytest.approx(10.0)),
        "mobile_app": (round(1 / 3, 6), pytest.approx(10.0)),
    }
    assert data["first"] == [{"channel": "web", "conversions": 1.0, "revenue": 30.0}]


def segment_event(kind: str, customer: str, version: int) -> CloudEvent:
    return CloudEvent(
        type=f"io.threadline.segment.{kind}",
        source="threadline/profile",
        id=derived_id("segment", kind, customer, str(version)),
        subject=customer,
        partitionkey=customer,
        data={"customerId": customer, "segmentId": "vip", "segmentName": "VIP",
              "version": version, "at": when(1)},
    )  # fmt: skip


async def test_segment_filters_follow_the_latest_membership_announced(flow):
    await handle_events([*retail("a"), *retail("b"), *retail("c")], flow.ports)
    await handle_events(
        [
            segment_event("entered", "a", 1),
            segment_event("entered", "b", 1),
            segment_event("exited", "b", 2),
            segment_event("exited", "c", 2),
            segment_event("entered", "c", 1),  # late: the exit stands
        ],
        flow.ports,
    )

    data = await flow.graph(
        """query($from: DateTime!, $to: DateTime!) {
          vip: funnel(steps: ["Store Visited", "Order Completed"], from: $from, to: $to,
                      segmentId: "vip") { steps { customers } }
          all: funnel(steps: ["Store Visited", "Order Completed"], from: $from, to: $to) {
            steps { customers } } }""",
        **{"from": when(-1)},
        to=when(10),
    )

    assert data["vip"]["steps"] == [{"customers": 1}, {"customers": 1}]
    assert data["all"]["steps"] == [{"customers": 3}, {"customers": 3}]
