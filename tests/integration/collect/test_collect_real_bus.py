"""The collection API against the real RabbitMQ node and MongoDB (SecantusDB)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from services.profile.adapters.ports import QuarantinedEvent
from services.profile.ingest import expand
from shared.auth import issue_token
from shared.events import CloudEvent, derived_id
from shared.normalize import source_id
from tests.integration.collect.collect_wiring import (
    JWT_SECRET,
    WRITE_KEY,
    collect_settings,
    tap,
    wired,
)

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
ADMIN = {"Authorization": "Bearer " + issue_token(JWT_SECRET, ["admin"])}


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector")  # type: ignore[arg-type]


async def test_accepted_batch_is_on_the_exchange_and_rejects_are_in_mongo(infra) -> None:
    settings = collect_settings(infra)
    async with wired(settings) as w, tap(settings) as received, client(w.app) as http:
        batch = {
            "batch": [
                {
                    "type": "identify",
                    "messageId": "i-1",
                    "anonymousId": "anon-1",
                    "traits": {"email": "Ada@Example.com"},
                },
                {
                    "type": "track",
                    "messageId": "t-1",
                    "anonymousId": "anon-1",
                    "event": "Order Completed",
                    "properties": {"total": "99.90", "currency": "chf"},
                },
                {"type": "track", "messageId": "t-bad", "anonymousId": "anon-1", "event": "?!"},
            ],
            "sentAt": datetime.now(UTC).isoformat(),
        }
        response = await http.post("/v1/batch", json=batch, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["accepted"] == 2

        [message] = await received.take(1)  # one device: one bus message
        assert message.routing_key == "ingest.batch"
        assert message.headers["ce-type"] == "io.threadline.ingest.batch"
        assert message.headers["ce-partitionkey"] == "anon-1"
        assert message.headers["ce-id"] == derived_id(
            "ingest.batch", source_id(WRITE_KEY), "i-1", "t-1"
        )
        assert message.content_type == "application/cloudevents+json"
        identify, event = expand([CloudEvent.from_json(message.body)])
        assert identify.type == "io.threadline.ingest.identify"
        assert event.type == "io.threadline.ingest.track"
        assert event.partitionkey == "anon-1"
        assert event.id == derived_id("ingest", source_id(WRITE_KEY), "t-1")
        assert event.source == "threadline/profile/collector"
        assert event.data["event"] == "order_completed"
        assert event.data["money"] == {"total": "99.90", "currency": "CHF"}
        assert identify.data["traits"]["email"] == "ada@example.com"

        [entry] = await w.quarantine.browse()
        assert orjson.loads(entry.payload)["messageId"] == "t-bad"
        assert "batch[2].event" in entry.errors

        listed = await http.get("/v1/admin/quarantine", headers=ADMIN)
        assert [item["payload"]["messageId"] for item in listed.json()["items"]] == ["t-bad"]


async def test_replay_from_mongo_publishes_and_marks_the_entry(infra) -> None:
    settings = collect_settings(infra)
    async with wired(settings) as w, tap(settings) as received, client(w.app) as http:
        await http.post(
            "/v1/track",
            json={
                "messageId": "r-1",
                "userId": "u-9",
                "event": "Paid",
                "properties": {"currency": "EURO"},
            },
            headers=AUTH,
        )
        [entry] = await w.quarantine.browse()
        fixed = orjson.loads(entry.payload)
        fixed["properties"]["currency"] = "EUR"
        # Stand in for an operator's fix: store the corrected payload under a new id.
        corrected = QuarantinedEvent(
            id="corrected-r-1",
            source=entry.source,
            payload=orjson.dumps(fixed).decode(),
            errors=entry.errors,
            received_at=entry.received_at,
            kind=entry.kind,
        )
        await w.quarantine.add([corrected])

        response = await http.post(
            "/v1/admin/quarantine/replay", json={"ids": [entry.id, "corrected-r-1"]}, headers=ADMIN
        )
        body = response.json()
        assert body["replayed"] == ["corrected-r-1"]
        assert [failure["id"] for failure in body["failed"]] == [entry.id]

        [message] = await received.bodies(1)
        assert message["data"]["messageId"] == "r-1"
        assert message["data"]["properties"]["currency"] == "EUR"
        [replayed] = await w.quarantine.browse(status="replayed")
        assert replayed.id == "corrected-r-1"
        assert replayed.replayed_at is not None
        [still] = await w.quarantine.browse()
        assert still.attempts == 1


async def test_mongo_quarantine_keeps_the_first_copy_and_lists_oldest_first(infra) -> None:
    settings = collect_settings(infra)
    async with wired(settings) as w:
        now = datetime(2024, 5, 1, tzinfo=UTC)
        later = QuarantinedEvent("b", "src", '{"n": 2}', {"x.y[0]": "bad"}, now + timedelta(1))
        earlier = QuarantinedEvent("a", "src", '{"n": 1}', {"x": "bad"}, now)
        await w.quarantine.add([later, earlier])
        await w.quarantine.add([QuarantinedEvent("a", "src", '{"n": 3}', {}, now)])
        listed = await w.quarantine.browse()
        assert [(e.id, e.payload) for e in listed] == [("a", '{"n": 1}'), ("b", '{"n": 2}')]
        assert listed[1].errors == {"x.y[0]": "bad"}
        assert listed[0].received_at == now
        await w.quarantine.record_failure("b", {"other": "still bad"})
        await w.quarantine.mark_replayed(["a"], now)
        assert [e.id for e in await w.quarantine.browse()] == ["b"]
        assert (await w.quarantine.get(["b"]))[0].errors == {"other": "still bad"}
        assert [e.id for e in await w.quarantine.browse(status=None)] == ["a", "b"]


async def test_a_closed_bus_answers_503_not_200(infra) -> None:
    settings = collect_settings(infra)
    async with wired(settings) as w, client(w.app) as http:
        await w.bus.close()
        response = await http.post("/v1/track", json={"userId": "u", "event": "E"}, headers=AUTH)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"


async def test_a_bearer_token_with_events_write_publishes_and_one_without_it_is_refused(
    infra,
) -> None:
    settings = collect_settings(infra)
    writer = {"Authorization": "Bearer " + issue_token(JWT_SECRET, ["events:write"], subject="pos")}
    reader = {"Authorization": "Bearer " + issue_token(JWT_SECRET, ["customers:read"])}
    event = {"type": "track", "userId": "u-7", "event": "Store Visit"}
    async with wired(settings) as w, tap(settings) as received, client(w.app) as http:
        refused = await http.post("/v1/track", json={**event, "messageId": "r-1"}, headers=reader)
        accepted = await http.post("/v1/track", json={**event, "messageId": "w-1"}, headers=writer)

        assert refused.status_code == 403
        assert "events:write" in refused.json()["error"]
        assert accepted.status_code == 200, accepted.text
        [message] = await received.take(1)
        [published] = expand([CloudEvent.from_json(message.body)])
        assert published.id == derived_id("ingest", source_id("token:pos"), "w-1")
        assert published.data["source"] == source_id("token:pos")
