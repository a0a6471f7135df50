"""``Customer.journeyExport`` over the real MongoDB: the journey part of a data-subject access
report, paged, batched across customers, and audited in the journey's own PII audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.journey.adapters.mongo import INDEXES, MongoJourneyStore
from services.journey.api.graph import JourneyContext, schema
from services.journey.handlers import handle_events
from shared.auth import Principal
from shared.errors import StorageError
from shared.events import CloudEvent, format_time
from shared.mongo import AsyncDatabase, Document
from shared.pii_audit import AUDIT_COLLECTION, MongoPiiAudit, PiiReadEntry
from tests.integration.services.services_support import scratch_database
from tests.support.journey_ports import mongo_flow
from tests.support.resolved_events import resolved

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 2, 1, 10, tzinfo=UTC)
EXPORTER = Principal("dpo-1", frozenset({"customers:read", "admin", "pii:read"}))
ENTITIES = """query($r: [_Any!]!, $first: Int!, $after: String) {
  _entities(representations: $r) { ... on Customer { id journeyExport(first: $first, after: $after)
} } }"""


def track(customer: str, n: int, name: str, channel: str, days: float, **props: Any) -> CloudEvent:
    moment = format_time(DAY1 + timedelta(days=days))
    return resolved("track", f"{customer}-m{n}", customer, event=name, properties=props,
                    timestamp=moment, context={"channel": channel})  # fmt: skip


def story(customer: str) -> list[CloudEvent]:
    """Wishlist on the web, a failed payment, the store visit, the purchase in the app."""
    return [
        track(customer, 0, "Product Added to Wishlist", "web", 0, product_id="p1"),
        track(customer, 1, "Payment Failed", "web", 1, card="visa"),
        track(customer, 2, "Store Visited", "store", 2, store_id="s9"),
        track(customer, 3, "Order Completed", "mobile_app", 4, order_id=f"o-{customer}"),
    ]


class CountingStore(MongoJourneyStore):
    """The real store, counting the per-customer reads a request makes."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self.calls: list[str] = []

    async def timelines(self, customer_ids: Sequence[str], **page: Any) -> Any:
        self.calls.append("timelines")
        return await super().timelines(customer_ids, **page)

    async def journeys_of(self, customer_ids: Sequence[str]) -> Any:
        self.calls.append("journeys_of")
        return await super().journeys_of(customer_ids)

    async def frictions_of(self, customer_ids: Sequence[str]) -> Any:
        self.calls.append("frictions_of")
        return await super().frictions_of(customer_ids)


@dataclass
class Journey:
    database: AsyncDatabase[Document]
    store: CountingStore
    audit: MongoPiiAudit

    async def ask(
        self, query: str, principal: Principal = EXPORTER, request_id: str = "dsar-1", **vs: Any
    ) -> Any:
        context = JourneyContext(
            principal=principal, store=self.store, audit=self.audit, request_id=request_id
        )
        return await schema.execute(query, variable_values=vs, context_value=context)

    async def export(self, *customers: str, first: int = 500, after: str | None = None) -> Any:
        result = await self.ask(
            ENTITIES,
            r=[{"__typename": "Customer", "id": c} for c in customers],
            first=first,
            after=after,
        )
        assert result.errors is None, result.errors
        return [entity["journeyExport"] for entity in result.data["_entities"]]

    async def audit_entries(self) -> list[Document]:
        return [doc async for doc in self.database[AUDIT_COLLECTION].find({})]


@pytest.fixture
async def journey(infra: Any) -> AsyncIterator[Journey]:
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        flow = mongo_flow(database)
        await handle_events(story("ana") + story("bo"), flow.ports)
        yield Journey(database, CountingStore(database), MongoPiiAudit(database))


async def test_the_export_holds_touchpoints_journeys_and_frictions_and_is_audited(journey):
    [ana] = await journey.export("ana")

    assert ana["customerId"] == "ana"
    assert [t["event_name"] for t in ana["touchpoints"]] == [
        "Order Completed", "Store Visited", "Payment Failed", "Product Added to Wishlist"
    ]  # fmt: skip
    assert ana["touchpoints"][2]["properties"] == {"card": "visa"}
    assert ana["touchpointsPage"] == {"total": 4, "hasNextPage": False,
                                      "endCursor": ana["touchpointsPage"]["endCursor"]}  # fmt: skip
    [purchase] = ana["journeys"]
    assert (purchase["journey_id"], purchase["stage"]) == ("purchase", "purchase")
    assert [v["stage"] for v in purchase["history"]] == ["consideration", "purchase"]
    assert "payment_failure" in [f["kind"] for f in ana["frictions"]]
    [entry] = await journey.audit_entries()
    assert (entry["principal"], entry["customerIds"], entry["fields"], entry["requestId"]) == (
        "dpo-1", ["ana"], ["Customer.journeyExport"], "dsar-1"
    )  # fmt: skip


async def test_many_customers_are_one_read_per_part_and_one_audit_entry(journey):
    ana, bo = await journey.export("ana", "bo")

    assert {t["customer_id"] for t in ana["touchpoints"]} == {"ana"}
    assert {t["customer_id"] for t in bo["touchpoints"]} == {"bo"}
    assert sorted(journey.store.calls) == ["frictions_of", "journeys_of", "timelines"]
    [entry] = await journey.audit_entries()
    assert entry["customerIds"] == ["ana", "bo"]


async def test_touchpoints_come_a_page_at_a_time_and_bad_pages_say_what_to_ask(journey):
    seen: list[str] = []
    after = None
    while True:
        [page] = await journey.export("ana", first=3, after=after)
        seen += [t["id"] for t in page["touchpoints"]]
        after = page["touchpointsPage"]["endCursor"]
        if not page["touchpointsPage"]["hasNextPage"]:
            break
    [whole] = await journey.export("ana")
    assert seen == [t["id"] for t in whole["touchpoints"]]
    assert len(seen) == 4

    for first, after in [(0, None), (1001, None), (10, "not-a-cursor")]:
        result = await journey.ask(
            ENTITIES, r=[{"__typename": "Customer", "id": "ana"}], first=first, after=after
        )
        [error] = result.errors
        assert error.extensions == {"code": "BAD_USER_INPUT"}
        assert "journeyExport" in error.message


async def test_the_export_needs_admin_and_pii_read_and_refusals_are_not_audited(journey):
    for scopes in [{"customers:read", "pii:read"}, {"customers:read"}]:
        result = await journey.ask(
            ENTITIES,
            Principal("analyst", frozenset(scopes)),
            r=[{"__typename": "Customer", "id": "ana"}],
            first=10,
            after=None,
        )
        assert result.errors[0].extensions == {"code": "FORBIDDEN"}
        assert "ana" not in str(result.data)
    assert await journey.audit_entries() == []


async def test_an_export_that_cannot_be_audited_is_not_answered(journey):
    async def audit_down(entry: PiiReadEntry) -> None:
        raise StorageError("writing the PII audit log failed: connection refused")

    journey.audit.record_read = audit_down
    result = await journey.ask(
        ENTITIES, r=[{"__typename": "Customer", "id": "ana"}], first=10, after=None
    )

    assert result.errors
    assert "visa" not in str(result.data)
    assert journey.store.calls == []
