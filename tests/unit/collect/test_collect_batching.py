"""A /v1/batch travels as one bus message per partition key, its events inside in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.profile.ingest import BATCH_TYPE, ingest_event
from shared.events import CloudEvent, derived_id
from shared.normalize import Receipt, normalize, source_id
from tests.unit.collect.collect_app import NOW, WRITE_KEY, Harness, basic, harness

SOURCE = source_id(WRITE_KEY)


@pytest.fixture
async def api() -> AsyncIterator[Harness]:
    async with harness() as h:
        yield h


def event(message_id: str, **who: str) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "event": "Product Viewed",
        "properties": {"sku": message_id},
        "timestamp": "2024-05-01T12:00:00Z",
        **who,
    }


def inner(message: CloudEvent) -> list[CloudEvent]:
    return [CloudEvent.from_dict(raw) for raw in message.data["events"]]


async def post_batch(api: Harness, events: list[dict[str, Any]], **headers: str) -> None:
    response = await api.client.post(
        "/v1/batch", json={"batch": events}, headers={**basic(WRITE_KEY), **headers}
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events)


async def test_a_device_batch_is_one_message_holding_its_events_as_published_alone(
    api: Harness,
) -> None:
    messages = [event(f"m-{i}", anonymousId="device-1") for i in range(5)]
    await post_batch(api, messages)

    [batch] = api.bus.published
    assert batch.type == BATCH_TYPE
    assert batch.routing_key == "ingest.batch"
    assert batch.partitionkey == "device-1"
    assert batch.subject is None
    assert batch.source == "threadline/profile/collector"
    assert batch.id == derived_id("ingest.batch", SOURCE, *(f"m-{i}" for i in range(5)))
    # Alone, each would carry the request's trace context too (present when another test
    # in the process installed a tracer provider).
    alone = [
        ingest_event(normalize(m, Receipt(received_at=NOW, source=SOURCE)), NOW, batch.traceparent)
        for m in messages
    ]
    assert [e.to_dict() for e in inner(batch)] == [e.to_dict() for e in alone]
    assert [e.id for e in inner(batch)] == [
        derived_id("ingest", SOURCE, f"m-{i}") for i in range(5)
    ]


async def test_a_server_batch_is_grouped_per_key_keeping_each_keys_order(api: Harness) -> None:
    who = ["u-1", "u-2", "u-1", "u-3", "u-2", "u-1"]
    await post_batch(api, [event(f"m-{i}", userId=user) for i, user in enumerate(who)])

    first, second, single = api.bus.published
    assert (first.partitionkey, second.partitionkey, single.partitionkey) == ("u-1", "u-2", "u-3")
    assert [e.data["messageId"] for e in inner(first)] == ["m-0", "m-2", "m-5"]
    assert [e.data["messageId"] for e in inner(second)] == ["m-1", "m-4"]
    assert first.id == derived_id("ingest.batch", SOURCE, "m-0", "m-2", "m-5")
    # A key with one event travels as that event: same id as via /v1/track.
    assert single.type == "io.threadline.ingest.track"
    assert single.id == derived_id("ingest", SOURCE, "m-3")
    assert [e.data["messageId"] for e in api.ingested] == ["m-0", "m-2", "m-5", "m-1", "m-4", "m-3"]


async def test_anonymous_id_is_the_partition_key_when_both_ids_are_present(api: Harness) -> None:
    await post_batch(
        api,
        [event("m-1", anonymousId="a-1", userId="u-1"), event("m-2", anonymousId="a-1")],
    )
    [batch] = api.bus.published
    assert batch.partitionkey == "a-1"
    assert {e.partitionkey for e in inner(batch)} == {"a-1"}


async def test_an_identical_retried_batch_has_the_same_id_and_another_composition_not(
    api: Harness,
) -> None:
    messages = [event(f"m-{i}", anonymousId="device-1") for i in range(3)]
    await post_batch(api, messages)
    await post_batch(api, messages)
    await post_batch(api, messages[1:])
    first, retried, recomposed = api.bus.published
    assert retried.id == first.id
    assert recomposed.id != first.id
    assert [e.id for e in inner(recomposed)] == [e.id for e in inner(first)][1:]


async def test_the_batch_message_and_its_events_carry_the_callers_trace(api: Harness) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    messages = [event(f"m-{i}", anonymousId="device-1") for i in range(2)]
    await post_batch(api, messages, traceparent=traceparent)
    [batch] = api.bus.published
    assert batch.traceparent is not None
    assert batch.traceparent.split("-")[1] == trace_id
    assert [e.traceparent for e in inner(batch)] == [batch.traceparent] * 2
