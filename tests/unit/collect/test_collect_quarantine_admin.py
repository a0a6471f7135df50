"""Rejected events are listable and replayable by an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest

from shared.auth import issue_token
from shared.events import derived_id
from shared.normalize import source_id
from tests.unit.collect.collect_app import JWT_SECRET, NOW, WRITE_KEY, Harness, basic, harness


def bearer(*scopes: str, secret: str = JWT_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, scopes)}"}


ADMIN = bearer("admin")


@pytest.fixture
async def api() -> AsyncIterator[Harness]:
    async with harness() as h:
        yield h


async def reject(api: Harness, message_id: str, currency: str = "EURO") -> None:
    message = {
        "type": "track",
        "messageId": message_id,
        "userId": "u-1",
        "event": "Order Completed",
        "properties": {"revenue": "10", "currency": currency},
    }
    body = {"batch": [message], "context": {"channel": "store"}, "sentAt": "2024-05-01T12:00:00Z"}
    response = await api.client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (bearer("customers:read"), 403), (bearer("admin", secret="x" * 40), 401)],
)
async def test_admin_endpoints_need_a_valid_admin_token(
    api: Harness, headers: dict[str, str], status: int
) -> None:
    listed = await api.client.get("/v1/admin/quarantine", headers=headers)
    replayed = await api.client.post(
        "/v1/admin/quarantine/replay", json={"ids": ["x"]}, headers=headers
    )
    assert (listed.status_code, replayed.status_code) == (status, status)


async def test_write_key_does_not_open_the_admin_endpoints(api: Harness) -> None:
    response = await api.client.get("/v1/admin/quarantine", headers=basic(WRITE_KEY))
    assert response.status_code == 401


async def test_rejected_events_are_listed_with_payload_errors_and_time(api: Harness) -> None:
    await reject(api, "m-1")
    response = await api.client.get("/v1/admin/quarantine?limit=10", headers=ADMIN)
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["id"] == derived_id("quarantine", source_id(WRITE_KEY), "m-1")
    assert item["payload"]["messageId"] == "m-1"
    assert item["batch"] == {"sentAt": "2024-05-01T12:00:00Z", "context": {"channel": "store"}}
    assert item["errors"] == {
        "batch[0].properties.currency": "'EURO' is not an ISO 4217 currency code (e.g. EUR, USD)"
    }
    assert item["receivedAt"] == "2024-05-01T12:00:10.000Z"
    assert item["status"] == "pending"


async def test_a_retried_rejected_batch_is_quarantined_once(api: Harness) -> None:
    await reject(api, "m-1")
    await reject(api, "m-1")
    assert len(api.quarantine.entries) == 1


async def test_listing_honours_the_limit_and_validates_it(api: Harness) -> None:
    for index in range(3):
        await reject(api, f"m-{index}")
    listed = await api.client.get("/v1/admin/quarantine?limit=2", headers=ADMIN)
    assert len(listed.json()["items"]) == 2
    for bad in ("0", "abc", "5000"):
        response = await api.client.get(f"/v1/admin/quarantine?limit={bad}", headers=ADMIN)
        assert response.status_code == 400
        assert "limit" in response.json()["errors"]


async def test_replay_publishes_events_that_pass_now_and_keeps_the_rest(api: Harness) -> None:
    await reject(api, "fixable")
    await reject(api, "still-bad")
    source = source_id(WRITE_KEY)
    fixable_id = derived_id("quarantine", source, "fixable")
    still_bad_id = derived_id("quarantine", source, "still-bad")
    # An operator corrected the stored payload (as a fixed normalizer would accept it).
    entry = api.quarantine.entries[fixable_id]
    payload = orjson.loads(entry.payload)
    payload["properties"]["currency"] = "EUR"
    api.quarantine.entries[fixable_id] = replace(entry, payload=orjson.dumps(payload).decode())

    response = await api.client.post(
        "/v1/admin/quarantine/replay",
        json={"ids": [fixable_id, still_bad_id, "no-such-id"]},
        headers=ADMIN,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["replayed"] == [fixable_id]
    assert [failure["id"] for failure in body["failed"]] == [still_bad_id]
    assert "batch[0].properties.currency" not in body["failed"][0]["errors"]
    assert "properties.currency" in body["failed"][0]["errors"]
    assert body["missing"] == ["no-such-id"]

    [event] = api.bus.published
    assert event.id == derived_id("ingest", source, "fixable")
    assert event.data["money"] == {"revenue": "10", "currency": "EUR"}
    assert event.data["channel"] == "store"  # the batch context came back with it
    assert event.data["receivedAt"] == "2024-05-01T12:00:10.000Z"
    assert api.quarantine.entries[fixable_id].status == "replayed"
    assert api.quarantine.entries[fixable_id].replayed_at == NOW
    assert api.quarantine.entries[still_bad_id].status == "pending"
    assert api.quarantine.entries[still_bad_id].attempts == 1

    pending = await api.client.get("/v1/admin/quarantine", headers=ADMIN)
    assert [item["id"] for item in pending.json()["items"]] == [still_bad_id]
    replayed = await api.client.get("/v1/admin/quarantine?status=replayed", headers=ADMIN)
    assert [item["id"] for item in replayed.json()["items"]] == [fixable_id]


async def test_replay_while_the_broker_is_down_is_503_and_marks_nothing(api: Harness) -> None:
    await reject(api, "m-1")
    [entry_id] = api.quarantine.entries
    entry = api.quarantine.entries[entry_id]
    api.quarantine.entries[entry_id] = replace(entry, payload=entry.payload.replace("EURO", "EUR"))
    api.bus.broker_down = True
    response = await api.client.post(
        "/v1/admin/quarantine/replay", json={"ids": [entry_id]}, headers=ADMIN
    )
    assert response.status_code == 503
    assert api.quarantine.entries[entry_id].status == "pending"


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": "x"}, {"ids": ["a"], "all": True}])
async def test_malformed_replay_request_is_400(api: Harness, body: object) -> None:
    response = await api.client.post("/v1/admin/quarantine/replay", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["errors"]
