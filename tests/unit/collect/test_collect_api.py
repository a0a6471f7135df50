"""The collection API speaks Segment's tracking API and publishes only what the broker confirms."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from shared.events import derived_id
from shared.normalize import source_id
from tests.unit.collect.collect_app import (
    NOW,
    WRITE_KEY,
    FailingQuarantine,
    Harness,
    basic,
    harness,
)

SOURCE = source_id(WRITE_KEY)


@pytest.fixture
async def api() -> AsyncIterator[Harness]:
    async with harness() as h:
        yield h


def track(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "m-1",
        "userId": "u-1",
        "event": "Order Completed",
        "properties": {"revenue": 12.5, "currency": "eur"},
        "timestamp": "2024-05-01T12:00:00Z",
        **fields,
    }


async def test_track_with_basic_auth_publishes_a_normalized_ingest_event(api: Harness) -> None:
    response = await api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [event] = api.bus.published
    assert event.type == "io.threadline.ingest.track"
    assert event.source == "threadline/profile/collector"
    assert event.id == derived_id("ingest", SOURCE, "m-1")
    assert event.partitionkey == "u-1"
    assert event.time == NOW
    assert event.data["event"] == "order_completed"
    assert event.data["money"] == {"revenue": "12.5", "currency": "EUR"}
    assert event.data["source"] == SOURCE
    assert event.data["receivedAt"] == "2024-05-01T12:00:10.000Z"


async def test_write_key_in_the_body_is_accepted_and_never_published(api: Harness) -> None:
    body = {"anonymousId": "a-1", "name": "Home", "writeKey": WRITE_KEY}
    response = await api.client.post("/v1/page", json=body)
    assert response.status_code == 200
    [event] = api.bus.published
    assert event.type == "io.threadline.ingest.page"
    assert event.partitionkey == "a-1"
    assert WRITE_KEY not in event.to_json().decode()


@pytest.mark.parametrize("path", ["/v1/identify", "/v1/batch"])
async def test_missing_write_key_is_401_with_a_json_error(api: Harness, path: str) -> None:
    response = await api.client.post(path, json={"userId": "u", "batch": [track()]})
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert "write key" in response.json()["error"]
    assert api.bus.published == []


async def test_unknown_write_key_is_401_and_nothing_is_stored(api: Harness) -> None:
    response = await api.client.post("/v1/track", json=track(), headers=basic("stolen"))
    assert response.status_code == 401
    assert response.json()["error"] == "unknown write key"
    assert api.bus.published == []
    assert api.quarantine.entries == {}


async def test_invalid_event_is_400_naming_every_field_and_is_quarantined(api: Harness) -> None:
    bad = track(userId=None, properties={"revenue": "lots", "currency": "EURO"})
    response = await api.client.post("/v1/track", json=bad, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["errors"] == {
        "userId": "either userId or anonymousId is required",
        "properties.revenue": "'lots' is not a decimal number",
        "properties.currency": "'EURO' is not an ISO 4217 currency code (e.g. EUR, USD)",
    }
    assert api.bus.published == []
    [entry] = api.quarantine.entries.values()
    assert orjson.loads(entry.payload) == bad
    assert entry.errors == body["errors"]
    assert entry.received_at == NOW
    assert entry.kind == "track"
    assert entry.source == SOURCE


async def test_batch_accepts_the_good_events_and_reports_the_bad(api: Harness) -> None:
    batch = {
        "batch": [
            {"type": "identify", "userId": "u-1", "messageId": "i-1", "traits": {"plan": "pro"}},
            {"type": "track", "userId": "u-1", "messageId": "t-2", "event": "Signed Up"},
            {"type": "track", "userId": "u-1", "messageId": "t-3", "event": ""},
            {"type": "page", "messageId": "p-4"},
        ],
        "sentAt": "2024-05-01T12:00:09Z",
        "context": {"channel": "store"},
    }
    response = await api.client.post("/v1/batch", json=batch, headers=basic(WRITE_KEY))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "accepted": 2,
        "rejected": [
            {
                "index": 2,
                "messageId": "t-3",
                "errors": {"batch[2].event": "track needs an event name such as 'Order Completed'"},
            },
            {
                "index": 3,
                "messageId": "p-4",
                "errors": {"batch[3].userId": "either userId or anonymousId is required"},
            },
        ],
    }
    [message] = api.bus.published  # one partition key: one bus message
    assert message.type == "io.threadline.ingest.batch"
    assert [e.type for e in api.ingested] == [
        "io.threadline.ingest.identify",
        "io.threadline.ingest.track",
    ]
    assert all(e.data["channel"] == "store" for e in api.ingested)
    entries = sorted(api.quarantine.entries.values(), key=lambda e: e.payload)
    assert [orjson.loads(e.payload)["messageId"] for e in entries] == ["p-4", "t-3"]
    assert orjson.loads(entries[0].batch or "{}") == {
        "sentAt": "2024-05-01T12:00:09Z",
        "context": {"channel": "store"},
    }


async def test_batch_with_only_bad_events_is_400_and_quarantines_them(api: Harness) -> None:
    batch = {"batch": [{"type": "track", "userId": "u"}, {"type": "launch", "userId": "u"}]}
    response = await api.client.post("/v1/batch", json=batch, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"batch[0].event", "batch[1].type"}
    assert body["accepted"] == 0
    assert len(api.quarantine.entries) == 2
    assert api.bus.published == []


@pytest.mark.parametrize(
    ("body", "field"),
    [({"batch": []}, "batch"), ({"batch": "x"}, "batch"), ({"batch": [], "context": 1}, "context")],
)
async def test_malformed_batch_envelope_is_400(api: Harness, body: Any, field: str) -> None:
    response = await api.client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b""])
async def test_body_that_is_not_a_json_object_is_400(api: Harness, content: bytes) -> None:
    response = await api.client.post("/v1/track", content=content, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert response.json()["success"] is False


async def test_event_over_32_kb_is_413(api: Harness) -> None:
    big = track(properties={"blob": "x" * 33_000})
    response = await api.client.post("/v1/track", json=big, headers=basic(WRITE_KEY))
    assert response.status_code == 413
    assert "32 KB" in response.json()["error"]
    assert api.bus.published == []


async def test_oversized_body_without_content_length_is_cut_off_at_the_limit(
    api: Harness,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"userId": "u", "event": "e", "properties": {"blob": "'
        for _ in range(10_000):
            sent += 1
            yield b"x" * 1024
        yield b'"}}'

    response = await api.client.post("/v1/track", content=chunks(), headers=basic(WRITE_KEY))
    assert response.status_code == 413
    assert sent < 100  # the server stopped reading soon after 32 KB


async def test_batch_over_500_kb_is_413(api: Harness) -> None:
    events = [track(messageId=f"m-{i}", properties={"blob": "x" * 20_000}) for i in range(30)]
    response = await api.client.post("/v1/batch", json={"batch": events}, headers=basic(WRITE_KEY))
    assert response.status_code == 413
    assert "500 KB" in response.json()["error"]
    assert api.bus.published == []


async def test_oversized_event_in_a_batch_is_rejected_alone(api: Harness) -> None:
    events = [track(messageId="small"), track(messageId="huge", properties={"b": "x" * 40_000})]
    response = await api.client.post("/v1/batch", json={"batch": events}, headers=basic(WRITE_KEY))
    assert response.status_code == 200
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 1
    assert "32 KB per event" in rejected["errors"]["batch[1]"]
    assert [e.data["messageId"] for e in api.ingested] == ["small"]
    assert len(api.quarantine.entries) == 1


async def test_gzip_bodies_are_accepted(api: Harness) -> None:
    body = gzip.compress(orjson.dumps({"batch": [track()], "writeKey": WRITE_KEY}))
    response = await api.client.post(
        "/v1/batch",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert len(api.ingested) == 1


async def test_gzip_bomb_is_413_by_its_decompressed_size(api: Harness) -> None:
    payload = orjson.dumps({"batch": [track(properties={"b": "x" * 600_000})]})
    compressed = gzip.compress(payload)
    assert len(compressed) < 10_000
    response = await api.client.post(
        "/v1/batch", content=compressed, headers={"Content-Encoding": "gzip", **basic(WRITE_KEY)}
    )
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]


@pytest.mark.parametrize(
    ("content", "encoding", "status"),
    [(b"\x1f\x8b\x08garbage", "gzip", 400), (gzip.compress(b'{"a": 1}')[:-6], "gzip", 400)],
)
async def test_corrupt_or_truncated_gzip_is_400(
    api: Harness, content: bytes, encoding: str, status: int
) -> None:
    response = await api.client.post(
        "/v1/track", content=content, headers={"Content-Encoding": encoding, **basic(WRITE_KEY)}
    )
    assert response.status_code == status


async def test_unsupported_content_encoding_is_415(api: Harness) -> None:
    response = await api.client.post(
        "/v1/track", content=b"{}", headers={"Content-Encoding": "br", **basic(WRITE_KEY)}
    )
    assert response.status_code == 415


async def test_broker_down_is_503_with_retry_after_and_recovers(api: Harness) -> None:
    api.bus.broker_down = True
    response = await api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["success"] is False
    api.bus.broker_down = False
    response = await api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    assert response.status_code == 200
    assert len(api.bus.published) == 1


async def test_quarantine_outage_is_503_so_rejected_events_are_not_lost() -> None:
    async with harness(quarantine=FailingQuarantine()) as api:
        events = {"batch": [track(), track(messageId="bad", event="")]}
        response = await api.client.post("/v1/batch", json=events, headers=basic(WRITE_KEY))
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        assert api.bus.published == []


async def test_a_retried_message_gets_the_same_event_id(api: Harness) -> None:
    for _ in range(2):
        await api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    first, second = api.bus.published
    assert first.id == second.id


async def test_message_without_id_gets_a_stable_derived_one(api: Harness) -> None:
    message = track()
    del message["messageId"]
    for sent_at in ("2024-05-01T12:00:01Z", "2024-05-01T12:00:30Z"):
        body = {"batch": [message], "sentAt": sent_at}
        await api.client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
    first, second = api.bus.published
    assert first.id == second.id
    assert first.data["messageId"].startswith("derived-")


async def test_same_message_id_from_another_source_is_a_different_event(api: Harness) -> None:
    await api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    await api.client.post("/v1/track", json=track(), headers=basic("another-key"))
    first, second = api.bus.published
    assert first.id != second.id


async def test_events_carry_the_callers_trace(api: Harness) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", **basic(WRITE_KEY)}
    await api.client.post("/v1/track", json=track(), headers=headers)
    [event] = api.bus.published
    assert event.traceparent is not None
    assert event.traceparent.split("-")[1] == trace_id


@pytest.mark.parametrize("kind", ["identify", "track", "page", "screen", "group", "alias"])
async def test_every_segment_call_has_its_endpoint(api: Harness, kind: str) -> None:
    message = {"userId": "u", "event": "E", "groupId": "g", "previousId": "a"}
    response = await api.client.post(f"/v1/{kind}", json=message, headers=basic(WRITE_KEY))
    assert response.status_code == 200
    assert api.bus.published[-1].type == f"io.threadline.ingest.{kind}"


async def test_accepted_and_quarantined_events_are_counted_for_metrics(api: Harness) -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value("threadline_collected_events_total", {"outcome": outcome})
        return value or 0.0

    before = count("accepted"), count("quarantined")
    events = {"batch": [track(), track(messageId="m-2"), track(messageId="bad", event="")]}
    await api.client.post("/v1/batch", json=events, headers=basic(WRITE_KEY))
    assert (count("accepted") - before[0], count("quarantined") - before[1]) == (2.0, 1.0)
