"""Parked messages are listable and replayable by an admin over HTTP, per consumer group."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from shared.auth import issue_token
from shared.bus.in_memory import InMemoryInbox
from shared.bus.ports import ConsumerSpec
from shared.events import CloudEvent
from tests.unit.collect.collect_app import JWT_SECRET, Harness, harness

GROUP = "profile.ingest"
ADMIN = {"Authorization": f"Bearer {issue_token(JWT_SECRET, ['admin'])}"}


class Flaky:
    """A handler that fails for events marked poison until it is fixed."""

    def __init__(self) -> None:
        self.fixed = False
        self.handled: list[str] = []

    async def __call__(self, events: Sequence[CloudEvent]) -> None:
        for event in events:
            if event.data.get("poison") and not self.fixed:
                raise ValueError(f"cannot store {event.id}")
        self.handled.extend(event.id for event in events)


def event(event_id: str, **data: object) -> CloudEvent:
    return CloudEvent(
        type="io.threadline.ingest.track",
        source="threadline/test",
        id=event_id,
        data=dict(data),
        partitionkey="device-1",
    )


@pytest.fixture
async def parked() -> AsyncIterator[tuple[Harness, Flaky]]:
    async with harness() as h:
        handler = Flaky()
        await h.bus.start(ConsumerSpec(GROUP, ("ingest.#",), handler), inbox=InMemoryInbox())
        await h.bus.publish(
            [event("good-1"), event("bad-1", poison=True), event("bad-2", poison=True)]
        )
        await h.bus.drain()
        yield h, handler


async def test_an_admin_lists_a_groups_parked_events_with_why_they_were_parked(
    parked: tuple[Harness, Flaky],
) -> None:
    api, _ = parked
    response = await api.client.get(f"/v1/admin/parked?consumer={GROUP}", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["consumer"] == GROUP
    assert [item["id"] for item in body["items"]] == ["bad-1", "bad-2"]
    first = body["items"][0]
    assert first["type"] == "io.threadline.ingest.track"
    assert first["data"] == {"poison": True}
    assert "ValueError: cannot store bad-1" in first["error"]
    assert first["attempts"] == 5
    limited = await api.client.get(f"/v1/admin/parked?consumer={GROUP}&limit=1", headers=ADMIN)
    assert len(limited.json()["items"]) == 1


async def test_an_admin_replays_the_named_parked_events_then_all(
    parked: tuple[Harness, Flaky],
) -> None:
    api, handler = parked
    handler.fixed = True
    one = await api.client.post(
        "/v1/admin/parked/replay", json={"consumer": GROUP, "ids": ["bad-2"]}, headers=ADMIN
    )
    assert one.json() == {"consumer": GROUP, "replayed": 1}
    await api.bus.drain()
    assert handler.handled == ["good-1", "bad-2"]

    rest = await api.client.post(
        "/v1/admin/parked/replay", json={"consumer": GROUP, "all": True}, headers=ADMIN
    )
    assert rest.json() == {"consumer": GROUP, "replayed": 1}
    await api.bus.drain()
    assert handler.handled == ["good-1", "bad-2", "bad-1"]
    listed = await api.client.get(f"/v1/admin/parked?consumer={GROUP}", headers=ADMIN)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": f"Bearer {issue_token(JWT_SECRET, ['customers:read'])}"}, 403)],
)
async def test_parked_routes_need_the_admin_scope(
    parked: tuple[Harness, Flaky], headers: dict[str, str], status: int
) -> None:
    api, _ = parked
    listed = await api.client.get(f"/v1/admin/parked?consumer={GROUP}", headers=headers)
    assert listed.status_code == status
    replayed = await api.client.post(
        "/v1/admin/parked/replay", json={"consumer": GROUP, "all": True}, headers=headers
    )
    assert replayed.status_code == status


async def test_a_missing_or_unknown_consumer_group_is_named(parked: tuple[Harness, Flaky]) -> None:
    api, _ = parked
    missing = await api.client.get("/v1/admin/parked", headers=ADMIN)
    assert missing.status_code == 400
    assert "consumer" in missing.json()["errors"]
    unknown = await api.client.get("/v1/admin/parked?consumer=profile.ingets", headers=ADMIN)
    assert unknown.status_code == 404
    assert "profile.ingets" in unknown.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"consumer": GROUP},
        {"consumer": GROUP, "ids": ["x"], "all": True},
        {"consumer": "no spaces allowed", "all": True},
        {"ids": ["x"]},
    ],
)
async def test_a_replay_request_must_name_a_group_and_either_ids_or_all(
    parked: tuple[Harness, Flaky], body: dict[str, object]
) -> None:
    api, _ = parked
    response = await api.client.post("/v1/admin/parked/replay", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["errors"]
