"""The published ``customer.split`` carries ids, not identifier values (PII on the bus)."""

from __future__ import annotations

import asyncio
import json

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.domain.identity import Identity
from services.profile.handlers import handle_ingested
from services.profile.merges import CUSTOMER_SPLIT, split_customer
from shared.bus.in_memory import InMemoryBus
from tests.unit.profile.profile_events import RECEIVED, at, segment

EMAIL = "jo.split@example.org"
PHONE = "+49301234567"
LOYALTY = "LOY-778899"


def test_the_split_event_names_no_identifier_value() -> None:
    store = InMemoryProfileStore()
    bus = InMemoryBus()
    events = [
        segment("identify", "m1", userId="u-jo", traits={"email": EMAIL}, timestamp=at(9)),
        # A call-center contact by phone and loyalty card, later merged in by the email.
        segment(
            "track", "m2", anonymousId="cc-1", event="Called",
            context={"traits": {"phone": PHONE, "email": EMAIL},
                     "externalIds": [{"id": LOYALTY, "type": "loyalty_id",
                                      "collection": "users", "encoding": "none"}]},
            timestamp=at(10),
        ),
        segment("track", "m3", anonymousId="cc-2", event="Called",
                context={"traits": {"phone": PHONE}}, timestamp=at(11)),
    ]  # fmt: skip

    async def run() -> str:
        await handle_ingested(events, store=store, publisher=InMemoryBus())
        owner = (await store.known([Identity("user_id", "u-jo")]))[Identity("user_id", "u-jo")]
        split = await split_customer(
            store,
            bus,
            customer_id=owner.customer_id,
            identities=[Identity("phone", PHONE), Identity("loyalty_id", LOYALTY)],
            reason="a family member's phone and card",
            operator="ops",
            at=RECEIVED,
        )
        return split.new_customer_id

    new_id = asyncio.run(run())
    [event] = [e for e in bus.published if e.type == CUSTOMER_SPLIT]
    assert event.data["newCustomerId"] == new_id
    assert event.data["ingestIds"]  # what journey and scoring move
    published = json.dumps(event.data)
    for value in (PHONE, LOYALTY, EMAIL, "u-jo", "cc-1", "cc-2", "1234567"):
        assert value not in published, (value, event.data)
    assert {i["type"] for i in event.data["identities"]} >= {"phone", "loyalty_id"}
