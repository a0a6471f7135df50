from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.ports import IdentityConflictError
from services.profile.domain import ProfileError
from services.profile.domain.identity import Identity
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus, InMemoryInbox
from shared.bus.ports import ConsumerSpec
from shared.events import CloudEvent
from tests.unit.profile.profile_events import at, segment


async def _handle(store: InMemoryProfileStore, bus: InMemoryBus, batch: Sequence[CloudEvent]):
    await handle_ingested(batch, store=store, publisher=bus)


async def _owners(store: InMemoryProfileStore, identities: list[Identity]) -> dict[Identity, str]:
    return {i: record.customer_id for i, record in (await store.known(identities)).items()}


def _types(bus: InMemoryBus) -> list[str]:
    return [event.type.removeprefix("io.threadline.") for event in bus.published]


async def test_first_event_creates_a_customer_and_publishes_the_resolved_event():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    page = segment("page", "m1", anonymousId="anon-1", timestamp=at(10), name="Home")

    await _handle(store, bus, [page])

    [customer_id] = store.customer_docs
    assert _types(bus) == ["customer.event.page", "customer.created"]
    resolved = bus.published[0]
    assert resolved.subject == resolved.partitionkey == customer_id
    assert resolved.data["customerId"] == customer_id
    assert resolved.data["name"] == "Home"
    assert resolved.time.isoformat() == "2026-03-01T10:00:00+00:00"
    assert store.event_docs[page.id].customer_id == customer_id


async def test_login_merges_anonymous_browsing_into_the_same_customer():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    await _handle(store, bus, [segment("page", "m1", anonymousId="anon-1", timestamp=at(10))])
    [customer_id] = store.customer_docs

    identify = segment(
        "identify",
        "m2",
        anonymousId="anon-1",
        userId="user-1",
        traits={"email": "Jo@Example.com", "plan": "pro"},
        timestamp=at(11),
    )
    await _handle(store, bus, [identify])

    assert list(store.customer_docs) == [customer_id]
    owned = {r.identity for r in await store.identities(customer_id)}
    assert owned == {
        Identity("anonymous_id", "anon-1"),
        Identity("user_id", "user-1"),
        Identity("email", "jo@example.com"),
    }
    assert _types(bus)[-2:] == ["customer.event.identify", "customer.updated"]
    assert bus.published[-1].data["identities"] == [
        {"type": "user_id", "value": "user-1"},
        {"type": "email", "value": "jo@example.com"},
    ]
    traits = store.customer_docs[customer_id].traits
    assert traits["plan"].value == "pro"
    assert traits["plan"].updated_at == datetime(2026, 3, 1, 11, tzinfo=UTC)


async def test_a_later_event_in_the_same_batch_finds_the_customer_an_earlier_one_created():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    batch = [
        segment("page", "m1", anonymousId="anon-1", timestamp=at(10)),
        segment("track", "m2", anonymousId="anon-1", event="Product Viewed", timestamp=at(10, 5)),
    ]

    await _handle(store, bus, batch)

    assert len(store.customer_docs) == 1
    assert store.saves == 1
    assert _types(bus).count("customer.created") == 1
    record = store.identity_docs[Identity("anonymous_id", "anon-1")]
    assert (record.first_seen.minute, record.last_seen.minute) == (0, 5)


async def test_reprocessing_a_batch_yields_the_same_state_and_the_same_event_ids():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    batch = [
        segment("identify", "m1", userId="user-1", traits={"plan": "pro"}, timestamp=at(9)),
        segment("track", "m2", userId="user-1", event="Order Completed", timestamp=at(10)),
    ]
    await _handle(store, bus, batch)
    state = (dict(store.customer_docs), dict(store.identity_docs), dict(store.event_docs))
    first_ids = [event.id for event in bus.published]

    await _handle(store, bus, batch)

    assert (store.customer_docs, store.identity_docs, store.event_docs) == state
    assert [event.id for event in bus.published[len(first_ids) :]] == first_ids


async def test_late_identify_does_not_overwrite_newer_traits():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    newer = segment("identify", "m1", userId="u", traits={"plan": "pro"}, timestamp=at(12))
    older = segment("identify", "m2", userId="u", traits={"plan": "free"}, timestamp=at(8))

    await _handle(store, bus, [newer])
    await _handle(store, bus, [older])

    [customer] = store.customer_docs.values()
    assert customer.traits["plan"].value == "pro"
    assert customer.first_seen is not None
    assert customer.last_seen is not None
    assert (customer.first_seen.hour, customer.last_seen.hour) == (8, 12)
    assert _types(bus)[-1] == "customer.event.identify"  # nothing changed: no customer.updated


async def test_channels_and_consent_are_recorded_on_the_customer():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    batch = [
        segment("page", "m1", userId="u", timestamp=at(9), context={"channel": "web"}),
        segment(
            "track",
            "m2",
            userId="u",
            event="Order Completed",
            timestamp=at(10),
            context={"channel": "store", "consent": {"categoryPreferences": {"marketing": True}}},
        ),
    ]

    await _handle(store, bus, batch)

    [customer] = store.customer_docs.values()
    assert customer.channels == {"web", "store"}
    assert customer.consents["marketing"].granted is True


async def test_event_matching_two_customers_merges_the_anonymous_one_into_the_known_user():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    await _handle(store, bus, [segment("identify", "m1", userId="user-1", timestamp=at(9))])
    await _handle(
        store,
        bus,
        [segment("page", "m2", anonymousId="anon-2", context={"traits": {"plan": "pro"}},
                 timestamp=at(9))],
    )  # fmt: skip
    owners = await _owners(
        store, [Identity("user_id", "user-1"), Identity("anonymous_id", "anon-2")]
    )
    known, anonymous = (
        owners[Identity("user_id", "user-1")],
        owners[Identity("anonymous_id", "anon-2")],
    )

    login = segment("page", "m3", userId="user-1", anonymousId="anon-2", timestamp=at(10))
    await _handle(store, bus, [login])

    [merged] = [e for e in bus.published if e.type == "io.threadline.customer.merged"]
    assert merged.data["customerId"] == known
    assert merged.data["mergedIds"] == [anonymous]
    assert merged.data["causedBy"] == login.id
    assert bus.published[-1].subject == known
    assert set((await _owners(store, list(owners))).values()) == {known}
    assert {e.customer_id for e in store.event_docs.values()} == {known}
    assert store.customer_docs[known].traits["plan"].value == "pro"
    assert (await store.customers([anonymous]))[anonymous].id == known
    [entry] = await store.merge_log(known)
    assert (entry.kind, entry.others, entry.caused_by) == ("merged", (anonymous,), login.id)

    await _handle(store, bus, [login])  # redelivered: nothing more to merge, same ids
    assert [e.id for e in bus.published].count(merged.id) == 1


async def test_identity_claimed_by_another_customer_meanwhile_fails_the_batch_for_a_retry():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    event = segment("page", "m1", anonymousId="anon-1", timestamp=at(9))

    class RacingStore(InMemoryProfileStore):
        async def known(self, identities):
            return {}  # what the handler read before a concurrent writer claimed the identity

    racing = RacingStore(identity_docs=store.identity_docs)
    await _handle(store, bus, [segment("page", "m0", anonymousId="anon-1", timestamp=at(8))])

    with pytest.raises(IdentityConflictError, match="retry the batch"):
        await _handle(racing, bus, [event])
    assert racing.event_docs == {}


async def test_event_without_a_valid_timestamp_is_refused():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    broken = CloudEvent(type="io.threadline.ingest.track", source="t", data={"userId": "u"})

    with pytest.raises(ProfileError, match="timestamp"):
        await _handle(store, bus, [broken])
    assert bus.published == []


async def test_redelivered_ingest_event_is_stored_once_through_the_consumer():
    store, bus = InMemoryProfileStore(), InMemoryBus(inbox=InMemoryInbox())

    async def handler(batch):
        await handle_ingested(batch, store=store, publisher=bus)

    await bus.start(ConsumerSpec("profile.ingest", ("ingest.#",), handler))
    event = segment("track", "m1", userId="u", event="Order Completed", timestamp=at(9))
    await bus.publish([event])
    await bus.publish([event])
    await bus.drain()

    assert len(store.event_docs) == 1
    assert _types(bus).count("customer.event.track") == 1


async def test_identity_sightings_are_written_only_when_they_move_the_seen_range_enough():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    await _handle(store, bus, [segment("page", "m1", userId="u", timestamp=at(9))])

    class CountingStore(InMemoryProfileStore):
        sightings: list[int] = []

        async def save(self, writes):
            self.sightings.append(len(writes.sightings))
            await super().save(writes)

    counting = CountingStore(customer_docs=store.customer_docs, identity_docs=store.identity_docs)
    await _handle(counting, bus, [segment("page", "m2", userId="u", timestamp=at(9, 30))])
    await _handle(counting, bus, [segment("page", "m3", userId="u", timestamp=at(11))])
    await _handle(counting, bus, [segment("page", "m4", userId="u", timestamp=at(8))])

    assert counting.sightings == [0, 1, 1]
    record = counting.identity_docs[Identity("user_id", "u")]
    assert (record.first_seen.hour, record.last_seen.hour) == (8, 11)
    [customer] = counting.customer_docs.values()
    assert customer.last_seen is not None
    assert customer.last_seen.hour == 11


async def test_identity_claimed_meanwhile_is_decided_again_against_its_new_owner():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    await _handle(store, bus, [segment("page", "m0", anonymousId="anon-1", timestamp=at(8))])
    [owner] = store.customer_docs

    class StaleOnceStore(InMemoryProfileStore):
        stale = True

        async def known(self, identities):
            if self.stale:  # the first lookup ran before another consumer claimed anon-1
                self.stale = False
                return {}
            return await super().known(identities)

    racing = StaleOnceStore(customer_docs=store.customer_docs, identity_docs=store.identity_docs)
    await _handle(racing, bus, [segment("page", "m1", anonymousId="anon-1", timestamp=at(9))])

    [stored] = racing.event_docs.values()
    assert stored.customer_id == owner
    assert list(racing.customer_docs) == [owner]
    assert bus.published[-1].subject == owner


async def test_one_batch_that_creates_two_customers_and_then_links_them_ends_with_one():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    batch = [
        segment("page", "b1", anonymousId="anon-1", context={"traits": {"seen": "web"}},
                timestamp=at(9)),
        segment("identify", "b2", userId="user-1", traits={"plan": "pro"}, timestamp=at(9)),
        segment("page", "b3", anonymousId="anon-1", userId="user-1", timestamp=at(10)),
    ]  # fmt: skip

    await _handle(store, bus, batch)

    [survivor] = [c for c in store.customer_docs if c not in store.merged_into]
    assert set((await _owners(store, [Identity("anonymous_id", "anon-1")])).values()) == {survivor}
    assert {e.customer_id for e in store.event_docs.values()} == {survivor}
    traits = store.customer_docs[survivor].traits
    assert (traits["seen"].value, traits["plan"].value) == ("web", "pro")
    resolved = [e for e in bus.published if e.type.startswith("io.threadline.customer.event.")]
    assert [e.data["ingestId"] for e in resolved] == [e.id for e in batch]
    assert resolved[-1].subject == survivor
    assert _types(bus).count("customer.merged") == 1


async def test_a_shared_device_keeps_two_people_apart_and_logs_the_refused_link():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    ann = segment("identify", "k1", anonymousId="kiosk", userId="ann", timestamp=at(9))
    bob = segment("identify", "k2", anonymousId="kiosk", userId="bob", timestamp=at(10))

    await _handle(store, bus, [ann, bob])

    owners = await _owners(
        store,
        [Identity("user_id", "ann"), Identity("user_id", "bob"), Identity("anonymous_id", "kiosk")],
    )
    assert owners[Identity("user_id", "ann")] != owners[Identity("user_id", "bob")]
    assert owners[Identity("anonymous_id", "kiosk")] == owners[Identity("user_id", "ann")]
    [refused] = await store.merge_log(owners[Identity("user_id", "bob")])
    assert (refused.kind, refused.caused_by) == ("refused", bob.id)
    assert refused.others == (owners[Identity("user_id", "ann")],)
    assert "customer.merged" not in _types(bus)
