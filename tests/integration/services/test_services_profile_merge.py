"""Identity resolution that merges, on the real MongoDB: journeys across channels, shared
devices, interrupted merges, operator merges and splits, and the graph over them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.profile.adapters.mongo import (
    CUSTOMERS,
    EVENTS,
    IDENTITIES,
    INDEXES,
    MongoProfileStore,
)
from services.profile.api.graph import ProfileContext, schema
from services.profile.domain.merging import MergePlan
from services.profile.handlers import handle_ingested
from shared.auth import Principal
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent
from shared.mongo import AsyncDatabase, Document
from tests.integration.services.services_support import scratch_database, unique
from tests.unit.profile.profile_events import at, segment

pytestmark = pytest.mark.integration

PHONE = "+49301234567"
MERGED = "io.threadline.customer.merged"


@dataclass
class Profile:
    database: AsyncDatabase[Document]
    store: MongoProfileStore
    bus: InMemoryBus

    async def handle(self, *events: CloudEvent) -> None:
        for event in events:
            await handle_ingested([event], store=self.store, publisher=self.bus)

    async def graph(self, query: str, *scopes: str, **variables: Any) -> dict[str, Any]:
        context = ProfileContext(
            principal=Principal("operator-7", frozenset(scopes or {"customers:read"})),
            store=self.store,
            publisher=self.bus,
        )
        result = await schema.execute(query, variable_values=variables, context_value=context)
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    async def customer_ids(self) -> set[str]:
        cursor = self.database[CUSTOMERS].find({"mergedInto": {"$exists": False}})
        return {str(doc["_id"]) async for doc in cursor}

    async def owner(self, key: str) -> str:
        doc = await self.database[IDENTITIES].find_one({"_id": key})
        assert doc is not None, f"identity {key} is not stored"
        return str(doc["customerId"])


@pytest.fixture
async def profile(infra: Any) -> AsyncIterator[Profile]:
    async with scratch_database(infra.mongodb_url, INDEXES) as database:
        yield Profile(database, MongoProfileStore(database), InMemoryBus())


def journey(run: str) -> dict[str, CloudEvent]:
    """One person's touchpoints: web browsing, login, a store purchase, a call."""
    loyalty = {"id": f"L-{run}", "type": "loyalty_id", "collection": "users", "encoding": "none"}
    email = f"jo.{run}@example.org"
    return {
        "browse": segment("page", f"{run}-browse", anonymousId=f"anon-{run}", name="Shoes",
                          context={"channel": "web"}, timestamp=at(9)),
        "login": segment("identify", f"{run}-login", anonymousId=f"anon-{run}",
                         userId=f"user-{run}", traits={"email": email, "firstName": "Jo"},
                         context={"channel": "web"}, timestamp=at(10)),
        # The till and the phone system send an id of their own per visit (Segment needs one).
        "store": segment("track", f"{run}-store", anonymousId=f"pos-{run}",
                         event="Order Completed", properties={"order_id": f"o-{run}", "total": 20},
                         context={"channel": "store", "traits": {"email": email},
                                  "externalIds": [loyalty]}, timestamp=at(11)),
        "call": segment("track", f"{run}-call", anonymousId=f"call-{run}",
                        event="Support Ticket Opened",
                        properties={"ticket_id": f"t-{run}"},
                        context={"channel": "call_center",
                                 "traits": {"phone": "+49 30 1234567", "callReason": "refund"},
                                 "externalIds": [loyalty]}, timestamp=at(12)),
    }  # fmt: skip


MERGE_LOG = """query($id: ID!) { customer(id: $id) { id
  mergeLog { kind reason causedBy others identities { type value } } } }"""


async def test_browsing_login_store_purchase_and_call_resolve_to_one_explained_customer(profile):
    run = unique("j")
    touch = journey(run)

    await profile.handle(*touch.values())

    [customer_id] = await profile.customer_ids()
    stored = {doc["_id"]: doc["customerId"] async for doc in profile.database[EVENTS].find({})}
    assert stored == {event.id: customer_id for event in touch.values()}
    data = await profile.graph(MERGE_LOG, "customers:read", "pii:read", id=customer_id)
    log = data["customer"]["mergeLog"]
    assert [(e["kind"], e["causedBy"]) for e in log] == [
        ("linked", touch["call"].id),
        ("linked", touch["store"].id),
        ("linked", touch["login"].id),
    ]
    assert [sorted(i["type"] for i in e["identities"]) for e in log] == [
        ["anonymous_id", "phone"], ["anonymous_id", "loyalty_id"], ["email", "user_id"]
    ]  # fmt: skip
    assert "loyalty_id" in log[0]["reason"]
    assert "email" in log[1]["reason"]

    masked = await profile.graph(MERGE_LOG, "customers:read", id=customer_id)
    [email] = [i for e in masked["customer"]["mergeLog"] for i in e["identities"]
               if i["type"] == "email"]  # fmt: skip
    assert email["value"] != f"jo.{run}@example.org"
    assert run not in email["value"]

    found = await profile.graph(
        """query { customerByIdentity(type: "phone", value: "+49 30 1234567") { id } }"""
    )
    assert found["customerByIdentity"]["id"] == customer_id


async def test_contacts_first_seen_apart_merge_when_an_event_links_them(profile):
    run = unique("m")
    touch = journey(run)
    await profile.handle(touch["browse"], touch["call"], touch["login"])
    caller = await profile.owner(f"phone:{PHONE}")
    known = await profile.owner(f"user_id:user-{run}")
    assert caller != known

    await profile.handle(touch["store"])

    assert await profile.customer_ids() == {known}
    owners = {doc["customerId"] async for doc in profile.database[IDENTITIES].find({})}
    assert owners == {known}
    stored = {doc["customerId"] async for doc in profile.database[EVENTS].find({})}
    assert stored == {known}
    [merged] = [e for e in profile.bus.published if e.type == MERGED]
    assert merged.data == {
        "customerId": known,
        "mergedIds": [caller],
        "causedBy": touch["store"].id,
        "reason": merged.data["reason"],
        "at": "2026-03-01T11:00:00.000Z",
    }
    data = await profile.graph(
        """query($id: ID!) { customer(id: $id) { id traits channels
             mergeLog { kind causedBy others } } }""",
        "customers:read",
        "pii:read",
        id=caller,
    )
    customer = data["customer"]
    assert customer["id"] == known  # the merged-away id answers the survivor
    assert customer["traits"]["callReason"] == "refund"
    assert customer["traits"]["firstName"] == "Jo"
    assert set(customer["channels"]) == {"web", "store", "call_center"}
    assert {"kind": "merged", "causedBy": touch["store"].id, "others": [caller]} in customer[
        "mergeLog"
    ]


CONSENTS = """query($id: ID!) { customer(id: $id) { id
  consents { purpose channel status eventId }
  consentHistory { purpose channel status eventId } } }"""


def with_consent(
    touch: dict[str, CloudEvent], run: str, login: dict[str, bool], call: dict[str, bool]
) -> dict[str, CloudEvent]:
    """``journey(run)`` whose login and call carry ``context.consent.categoryPreferences``."""
    loyalty = {"id": f"L-{run}", "type": "loyalty_id", "collection": "users", "encoding": "none"}
    consent = {"consent": {"categoryPreferences": login}}
    said = {"consent": {"categoryPreferences": call}}
    return {
        **touch,
        "login": segment("identify", f"{run}-login", anonymousId=f"anon-{run}",
                         userId=f"user-{run}", traits={"email": f"jo.{run}@example.org"},
                         context={"channel": "web", **consent}, timestamp=at(10)),
        "call": segment("track", f"{run}-call", anonymousId=f"call-{run}",
                        event="Support Ticket Opened", properties={"ticket_id": f"t-{run}"},
                        context={"channel": "call_center", "traits": {"phone": "+49 30 1234567"},
                                 "externalIds": [loyalty], **said}, timestamp=at(12)),
    }  # fmt: skip


async def test_a_merge_keeps_both_sides_consents_and_their_whole_history_on_the_survivor(profile):
    run = unique("c")
    # The known side said yes to marketing at 10:00; the caller said no at 12:00 and gave
    # analytics: after the merge the latest statement per purpose is the survivor's state.
    touch = with_consent(
        journey(run),
        run,
        login={"marketing": True, "personalization": False},
        call={"marketing": False, "analytics": True},
    )
    login, call = touch["login"], touch["call"]
    await profile.handle(touch["browse"], call, login)
    caller = await profile.owner(f"phone:{PHONE}")
    known = await profile.owner(f"user_id:user-{run}")
    assert caller != known

    await profile.handle(touch["store"])

    assert await profile.customer_ids() == {known}
    data = await profile.graph(CONSENTS, id=caller)
    customer = data["customer"]
    assert customer["id"] == known
    state = {c["purpose"]: (c["status"], c["eventId"]) for c in customer["consents"]}
    assert state == {
        "marketing": ("denied", call.id),
        "analytics": ("granted", call.id),
        "personalization": ("denied", login.id),
    }
    assert [(c["purpose"], c["status"], c["eventId"]) for c in customer["consentHistory"]] == [
        ("marketing", "granted", login.id),
        ("personalization", "denied", login.id),
        ("analytics", "granted", call.id),
        ("marketing", "denied", call.id),
    ]
    assert [c["channel"] for c in customer["consentHistory"]] == [None] * 4


async def test_two_people_on_one_kiosk_stay_two_with_the_refused_link_logged(profile):
    kiosk = unique("kiosk")
    ann = segment("identify", f"{kiosk}-ann", anonymousId=kiosk, userId=f"ann-{kiosk}",
                  traits={"email": f"ann.{kiosk}@example.org"}, timestamp=at(9))  # fmt: skip
    bob = segment("identify", f"{kiosk}-bob", anonymousId=kiosk, userId=f"bob-{kiosk}",
                  traits={"email": f"bob.{kiosk}@example.org"}, timestamp=at(10))  # fmt: skip

    await profile.handle(ann, bob)

    assert len(await profile.customer_ids()) == 2
    first = await profile.owner(f"user_id:ann-{kiosk}")
    second = await profile.owner(f"user_id:bob-{kiosk}")
    assert await profile.owner(f"anonymous_id:{kiosk}") == first
    assert await profile.owner(f"email:bob.{kiosk}@example.org") == second
    data = await profile.graph(MERGE_LOG, id=second)
    [refused] = [e for e in data["customer"]["mergeLog"] if e["kind"] == "refused"]
    assert refused["others"] == [first]
    assert refused["causedBy"] == bob.id
    assert refused["identities"] == [{"type": "anonymous_id", "value": kiosk}]
    assert "anonymous id alone" in refused["reason"]
    assert [e for e in profile.bus.published if e.type == MERGED] == []


async def test_a_merge_interrupted_after_its_mark_is_completed_by_the_next_handler(profile):
    run = unique("crash")
    device = segment("page", f"{run}-1", anonymousId=f"anon-{run}",
                     context={"traits": {"plan": "pro"}}, timestamp=at(9))  # fmt: skip
    user = segment("identify", f"{run}-2", userId=f"user-{run}", traits={"name": "Jo"},
                   timestamp=at(8))  # fmt: skip
    await profile.handle(device, user)
    loser = await profile.owner(f"anonymous_id:anon-{run}")
    survivor = await profile.owner(f"user_id:user-{run}")
    plan = MergePlan(survivor, (loser,), "crashed-event", "test", datetime(2026, 3, 1, tzinfo=UTC))
    fence = profile.store._fence
    # The worker dies right after the commit point: locks taken, the loser marked.
    for customer_id in sorted({survivor, loser}):
        await fence._lock(customer_id, plan.log_id)
    await fence._mark(loser, plan)

    later = segment("page", f"{run}-3", anonymousId=f"anon-{run}", timestamp=at(10))
    await profile.handle(later)

    assert await profile.customer_ids() == {survivor}
    assert await profile.owner(f"anonymous_id:anon-{run}") == survivor
    stored = {doc["_id"]: doc["customerId"] async for doc in profile.database[EVENTS].find({})}
    assert stored == {device.id: survivor, user.id: survivor, later.id: survivor}
    doc = await profile.database[CUSTOMERS].find_one({"_id": survivor})
    assert doc is not None
    assert doc["traits"]["plan"]["value"] == "pro"
    assert doc["traits"]["name"]["value"] == "Jo"
    assert loser in doc["mergedIds"]


SPLIT = """mutation($id: ID!, $loyalty: String!) { splitCustomer(customerId: $id,
  reason: "two people", identities: [{type: "phone", value: "+49 30 1234567"},
                                     {type: "loyalty_id", value: $loyalty}]) {
  customerId newCustomerId movedEvents } }"""


async def test_operator_merges_customers_and_splits_identifiers_off_with_their_history(profile):
    run = unique("op")
    touch = journey(run)
    await profile.handle(touch["browse"], touch["call"], touch["login"], touch["store"])
    [customer_id] = await profile.customer_ids()

    data = await profile.graph(SPLIT, "admin", id=customer_id, loyalty=f"L-{run}")
    split = data["splitCustomer"]
    new_id = split["newCustomerId"]
    assert (split["customerId"], split["movedEvents"]) == (customer_id, 1)
    again = await profile.graph(SPLIT, "admin", id=customer_id, loyalty=f"L-{run}")
    assert again["splitCustomer"] == split  # repeating a split completes it, changes nothing
    assert await profile.owner(f"phone:{PHONE}") == new_id
    assert await profile.owner(f"loyalty_id:L-{run}") == new_id
    # The call's own session id was only ever seen with the caller's identifiers: it leaves.
    assert await profile.owner(f"anonymous_id:call-{run}") == new_id
    assert await profile.owner(f"anonymous_id:pos-{run}") == customer_id
    assert await profile.owner(f"email:jo.{run}@example.org") == customer_id
    moved = await profile.database[EVENTS].find_one({"_id": touch["call"].id})
    assert moved is not None
    assert moved["customerId"] == new_id
    new = await profile.graph(
        "query($id: ID!) { customer(id: $id) { id traits channels mergeLog { kind } } }",
        "customers:read",
        "pii:read",
        id=new_id,
    )
    traits = new["customer"]["traits"]
    assert traits["callReason"] == "refund"  # rebuilt from the call that moved with them
    # Personal traits too, although stored events keep none: from the statements the
    # customer kept about them, which name their events.
    assert traits["phone"] == PHONE
    assert "firstName" not in traits  # the login stayed with the original customer
    assert new["customer"]["channels"] == ["call_center"]
    assert [e["kind"] for e in new["customer"]["mergeLog"]] == ["split"]
    splits = [e for e in profile.bus.published if e.type == "io.threadline.customer.split"]
    assert len({e.id for e in splits}) == 1  # the repeat republished the same event id
    event = splits[-1]
    assert event.data["customerId"] == customer_id
    assert event.data["newCustomerId"] == new_id
    assert event.data["ingestIds"] == [touch["call"].id]

    # Resolution does not undo the operator: an event carrying both sides stays apart.
    both = segment("track", f"{run}-both", anonymousId=f"pos-{run}", event="Visit",
                   context={"traits": {"email": f"jo.{run}@example.org",
                                       "phone": "+49 30 1234567"}}, timestamp=at(13))  # fmt: skip
    await profile.handle(both)
    assert await profile.customer_ids() == {customer_id, new_id}
    assert await profile.owner(f"phone:{PHONE}") == new_id

    merged = await profile.graph(
        """mutation($a: ID!, $b: ID!) { mergeCustomers(survivorId: $a, mergedIds: [$b],
             reason: "same person after all") }""",
        "admin",
        a=customer_id,
        b=new_id,
    )
    assert merged["mergeCustomers"] == customer_id
    assert await profile.owner(f"phone:{PHONE}") == customer_id
    operator = [e for e in profile.bus.published if e.type == MERGED][-1]  # after the store's
    assert operator.data["causedBy"] == "operator:operator-7"
    assert operator.data["mergedIds"] == [new_id]


async def test_merging_and_splitting_need_the_admin_scope(profile):
    result = await schema.execute(
        'mutation { mergeCustomers(survivorId: "a", mergedIds: ["b"], reason: "x") }',
        context_value=ProfileContext(
            principal=Principal("reader", frozenset({"customers:read"})), store=profile.store
        ),
    )
    assert result.errors is not None
    assert "admin" in result.errors[0].message


async def test_a_claim_that_raced_a_merge_is_moved_to_the_survivor_on_its_next_touch(profile):
    run = unique("stale")
    await profile.handle(
        segment("page", f"{run}-1", anonymousId=f"anon-{run}", timestamp=at(9)),
        segment("identify", f"{run}-2", userId=f"user-{run}", timestamp=at(9)),
        segment("page", f"{run}-3", anonymousId=f"anon-{run}", userId=f"user-{run}",
                timestamp=at(10)),
    )  # fmt: skip
    [survivor] = await profile.customer_ids()
    [loser] = [
        doc["_id"] async for doc in profile.database[CUSTOMERS].find({"mergedInto": survivor})
    ]
    # A worker claimed a device id for the loser just after the merge had moved its identities.
    await profile.database[IDENTITIES].insert_one(
        {"_id": f"anonymous_id:late-{run}", "type": "anonymous_id", "value": f"late-{run}",
         "customerId": loser, "firstSeen": at_time(9), "lastSeen": at_time(9), "source": "s"}
    )  # fmt: skip

    late = segment("page", f"{run}-4", anonymousId=f"late-{run}", timestamp=at(11))
    await profile.handle(late)

    assert await profile.owner(f"anonymous_id:late-{run}") == survivor
    stored = await profile.database[EVENTS].find_one({"_id": late.id})
    assert stored is not None
    assert stored["customerId"] == survivor
    assert await profile.customer_ids() == {survivor}


def at_time(hour: int) -> datetime:
    return datetime(2026, 3, 1, hour, tzinfo=UTC)


async def test_a_merge_whose_worker_died_before_publishing_is_announced_on_redelivery(profile):
    run = unique("announce")
    device = segment("page", f"{run}-1", anonymousId=f"anon-{run}", timestamp=at(9))
    user = segment("identify", f"{run}-2", userId=f"user-{run}", timestamp=at(9))
    login = segment("page", f"{run}-3", anonymousId=f"anon-{run}", userId=f"user-{run}",
                    timestamp=at(10))  # fmt: skip
    await profile.handle(device, user)
    loser = await profile.owner(f"anonymous_id:anon-{run}")
    survivor = await profile.owner(f"user_id:user-{run}")
    # The first delivery of the login merged, then died before publishing customer.merged.
    died = MergePlan(survivor, (loser,), login.id, "linked", login_time := at_time(10))
    await profile.store.merge(died)
    assert [e for e in profile.bus.published if e.type == MERGED] == []

    await profile.handle(login)  # the redelivery

    [merged] = [e for e in profile.bus.published if e.type == MERGED]
    assert merged.data["mergedIds"] == [loser]
    assert merged.data["causedBy"] == login.id
    assert merged.time == login_time
    log = await profile.database["merge_log"].find_one({"_id": died.log_id})
    assert log is not None
    assert log["status"] == "done"
    await profile.handle(login)  # and once announced, never again
    assert len([e for e in profile.bus.published if e.type == MERGED]) == 1


async def test_a_batch_that_creates_customers_and_then_links_them_merges_them(profile):
    run = unique("batch")
    batch = [
        segment("page", f"{run}-1", anonymousId=f"anon-{run}",
                context={"traits": {"seen": "web"}}, timestamp=at(9)),
        segment("identify", f"{run}-2", userId=f"user-{run}", traits={"plan": "pro"},
                timestamp=at(9)),
        segment("page", f"{run}-3", anonymousId=f"anon-{run}", userId=f"user-{run}",
                timestamp=at(10)),
    ]  # fmt: skip

    await handle_ingested(batch, store=profile.store, publisher=profile.bus)

    [survivor] = await profile.customer_ids()
    assert await profile.owner(f"anonymous_id:anon-{run}") == survivor
    stored = {doc["_id"]: doc["customerId"] async for doc in profile.database[EVENTS].find({})}
    assert stored == {event.id: survivor for event in batch}
    doc = await profile.database[CUSTOMERS].find_one({"_id": survivor})
    assert doc is not None
    assert {name: t["value"] for name, t in doc["traits"].items()} == {"seen": "web", "plan": "pro"}
    assert len([e for e in profile.bus.published if e.type == MERGED]) == 1
