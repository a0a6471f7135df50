"""The hygiene schedule: one run per interval across processes, takeover after a crash, the
report in the graph."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.in_memory_hygiene import InMemoryHygieneStore
from services.profile.domain.hygiene import CustomerFacts, EventTimes, HygienePolicy
from services.profile.hygiene_schedule import HygieneSchedule, reconcile_once, run_schedule
from tests.unit.profile.test_profile_graph import bearer, profile_app

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
SCHEDULE = HygieneSchedule(interval=timedelta(hours=1), policy=HygienePolicy())
TWINS = [
    CustomerFacts("c-old", {"name": "Jo Lee", "phone": "+4930123456"}, (("user_id", "u1"),), T0),
    CustomerFacts("c-new", {"name": "Jo Lee", "phone": "+4930123456"}, (("user_id", "u2"),), T0),
]


def store_with_findings() -> InMemoryHygieneStore:
    return InMemoryHygieneStore(
        facts=list(TWINS),
        events=[EventTimes("e1", "c-old", T0 + timedelta(days=2), T0)],
    )


async def test_only_one_of_several_processes_runs_a_due_reconciliation() -> None:
    store = store_with_findings()
    runs = [await reconcile_once(store, SCHEDULE, holder=h, now=T0) for h in ("p1", "p2", "p3")]
    assert sum(run is not None for run in runs) == 1
    assert (
        await reconcile_once(store, SCHEDULE, holder="p2", now=T0 + timedelta(minutes=59)) is None
    )
    assert await reconcile_once(store, SCHEDULE, holder="p2", now=T0 + timedelta(hours=1))


async def test_a_run_whose_process_died_is_taken_over_once_its_lease_expires() -> None:
    store = store_with_findings()
    assert await store.claim("crashed", T0, SCHEDULE.lease)  # and never publishes
    during = T0 + SCHEDULE.lease - timedelta(seconds=1)
    assert await reconcile_once(store, SCHEDULE, holder="p2", now=during) is None
    run = await reconcile_once(store, SCHEDULE, holder="p2", now=T0 + SCHEDULE.lease)
    assert run is not None
    assert run.counts == {"missing_traits": 2, "suspected_duplicate": 1, "timestamp_anomaly": 1}
    assert (run.customers, run.events) == (2, 1)


async def test_a_run_that_outlived_its_lease_publishes_nothing() -> None:
    store = store_with_findings()
    slow = await store.claim("slow", T0, SCHEDULE.lease)
    assert slow is not None
    taken_over = await reconcile_once(store, SCHEDULE, holder="fast", now=T0 + SCHEDULE.lease)
    assert taken_over is not None
    late = await reconcile_once(store, SCHEDULE, holder="slow", now=T0)
    assert late is None
    page = await store.report(None, 10, None)
    assert page.run == taken_over


async def test_the_schedule_loop_runs_until_stopped() -> None:
    store = store_with_findings()
    stop = asyncio.Event()

    def clock() -> datetime:
        if store.current is not None:
            stop.set()  # asked for the time again: the first run is published
        return T0

    often = HygieneSchedule(interval=timedelta(milliseconds=10), policy=HygienePolicy())
    await asyncio.wait_for(run_schedule(store, often, stop, clock=clock), 5)
    assert store.current is not None
    assert store.current.counts["suspected_duplicate"] == 1


REPORT = """query($kind: String, $first: Int!, $after: String) {
  hygieneReport(kind: $kind, first: $first, after: $after) {
    runId customersScanned eventsScanned counts { kind count }
    findings { kind customerIds reason eventIds eventCount } nextCursor
  } }"""


async def _query(hygiene: InMemoryHygieneStore, scopes: tuple[str, ...], **variables: object):
    app = profile_app(InMemoryProfileStore(), hygiene=hygiene)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        response = await client.post(
            "/graphql",
            json={"query": REPORT, "variables": {"first": 100, **variables}},
            headers=bearer(*scopes),
        )
    return response.json()


async def test_the_report_lists_findings_with_customer_ids_and_reasons_for_admins() -> None:
    store = store_with_findings()
    await reconcile_once(store, SCHEDULE, holder="p1", now=T0)

    body = await _query(store, ("admin",), kind="suspected_duplicate")

    report = body["data"]["hygieneReport"]
    assert report["customersScanned"] == 2
    assert {c["kind"]: c["count"] for c in report["counts"]}["suspected_duplicate"] == 1
    assert report["findings"] == [
        {
            "kind": "suspected_duplicate",
            "customerIds": ["c-new", "c-old"],
            "reason": "same name and phone number",
            "eventIds": [],
            "eventCount": 0,
        }
    ]


async def test_the_report_pages_with_a_cursor() -> None:
    store = store_with_findings()
    await reconcile_once(store, SCHEDULE, holder="p1", now=T0)
    seen = []
    after = None
    while True:
        body = await _query(store, ("admin",), first=1, after=after)
        report = body["data"]["hygieneReport"]
        seen += report["findings"]
        after = report["nextCursor"]
        if after is None:
            break
    assert len(seen) == 4
    assert len({(f["kind"], tuple(f["customerIds"]), f["reason"]) for f in seen}) == 4


async def test_the_report_needs_the_admin_scope_and_says_so() -> None:
    body = await _query(store_with_findings(), ("customers:read", "pii:read"))
    assert body["data"] is None or body["data"]["hygieneReport"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "admin" in error["message"]


async def test_unknown_kinds_and_page_sizes_are_refused_naming_the_fix() -> None:
    body = await _query(store_with_findings(), ("admin",), kind="dupes")
    assert "use one of missing_traits, suspected_duplicate, timestamp_anomaly" in str(body)
    body = await _query(store_with_findings(), ("admin",), first=0)
    assert "first must be between 1 and 1000" in str(body)


async def test_before_the_first_run_the_report_is_null() -> None:
    body = await _query(InMemoryHygieneStore(), ("admin",))
    assert body == {"data": {"hygieneReport": None}}
