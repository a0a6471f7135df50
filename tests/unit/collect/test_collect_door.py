"""What the profile's store or the bus cannot hold is refused at the door, never after a 200."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from shared.auth import issue_token
from shared.normalize.fields import MAX_DEPTH
from tests.unit.collect.collect_app import JWT_SECRET, WRITE_KEY, Harness, basic, harness


@pytest.fixture
async def api() -> AsyncIterator[Harness]:
    async with harness() as h:
        yield h


def page(message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": "device-1",
        "name": message_id,
        "timestamp": "2024-05-01T12:00:00Z",
        **fields,
    }


def deep_body(levels: int) -> bytes:
    """A page whose ``properties.v`` nests ``levels`` arrays (text: orjson will not write it)."""
    head = orjson.dumps(page("deep"))[:-1]
    return head + b',"properties":{"v":' + b"[" * levels + b"1" + b"]" * levels + b"}}"


@pytest.mark.parametrize("levels", [253, 500, 1000])
async def test_deep_json_is_a_json_400_naming_the_path_and_the_connection_stays_usable(
    api: Harness, levels: int
) -> None:
    body = deep_body(levels)
    response = await api.client.post(
        "/v1/page", content=body, headers={**basic(WRITE_KEY), "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    [(field, reason)] = response.json()["errors"].items()
    assert field.startswith("properties.v[0]")
    assert f"deeper than {MAX_DEPTH} levels" in reason
    assert api.bus.published == []
    [entry] = api.quarantine.entries.values()  # kept, cut at the limit
    assert orjson.loads(entry.payload)["messageId"] == "deep"

    after = await api.client.post("/v1/page", json=page("next"), headers=basic(WRITE_KEY))
    assert after.status_code == 200


async def test_a_device_batch_with_one_unstorable_event_publishes_the_other_fifty(
    api: Harness,
) -> None:
    good = [page(f"p-{i}") for i in range(50)]
    bad = page("p-bad", properties={"count": 2**64 - 1})
    batch = {"batch": [*good[:20], bad, *good[20:]]}
    response = await api.client.post("/v1/batch", json=batch, headers=basic(WRITE_KEY))

    assert response.status_code == 200
    assert response.json()["accepted"] == 50
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 20
    assert rejected["messageId"] == "p-bad"
    assert list(rejected["errors"]) == ["batch[20].properties.count"]
    assert [e.data["messageId"] for e in api.ingested] == [g["messageId"] for g in good]
    [entry] = api.quarantine.entries.values()
    assert orjson.loads(entry.payload)["properties"]["count"] == 2**64 - 1  # kept losslessly


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"properties": {"a\x00b": 1}}, "properties"),
        ({"context": {"traits": {"": "gold"}}}, "context.traits"),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "9999-12-31T00:00:00Z"}, "timestamp"),
        ({"anonymousId": True}, "anonymousId"),
    ],
)
async def test_a_single_call_downstream_could_not_hold_is_400_naming_the_field(
    api: Harness, fields: dict[str, Any], field: str
) -> None:
    response = await api.client.post(
        "/v1/page", json=page("m-1", **fields), headers=basic(WRITE_KEY)
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert api.bus.published == []


async def test_a_quarantined_too_deep_message_is_refused_again_on_replay(api: Harness) -> None:
    response = await api.client.post(
        "/v1/page",
        content=deep_body(300),
        headers={**basic(WRITE_KEY), "content-type": "application/json"},
    )
    assert response.status_code == 400
    [entry] = api.quarantine.entries.values()

    admin = {"Authorization": f"Bearer {issue_token(JWT_SECRET, ['admin'])}"}
    replayed = await api.client.post(
        "/v1/admin/quarantine/replay", json={"ids": [entry.id]}, headers=admin
    )
    assert replayed.status_code == 200
    [failed] = replayed.json()["failed"]
    assert any(f"deeper than {MAX_DEPTH} levels" in r for r in failed["errors"].values())
    assert replayed.json()["replayed"] == []
    assert api.bus.published == []
