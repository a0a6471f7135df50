"""``events:write``: a bearer token with that scope may send events instead of a write key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.auth import issue_token
from shared.events import derived_id
from shared.normalize import source_id
from tests.unit.collect.collect_app import JWT_SECRET, WRITE_KEY, Harness, basic, harness


@pytest.fixture
async def api() -> AsyncIterator[Harness]:
    async with harness() as h:
        yield h


def bearer(*scopes: str, subject: str = "pos-gateway", secret: str = JWT_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, scopes, subject=subject)}"}


def track(message_id: str = "m-1") -> dict[str, Any]:
    return {"type": "track", "messageId": message_id, "userId": "u-1", "event": "Store Visit"}


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
async def test_a_token_with_events_write_is_accepted_instead_of_a_write_key(
    api: Harness, path: str
) -> None:
    body = {"batch": [track()]} if path == "/v1/batch" else track()

    response = await api.client.post(path, json=body, headers=bearer("events:write"))

    assert response.status_code == 200, response.text
    [event] = api.ingested
    source = source_id("token:pos-gateway")
    assert event.data["source"] == source
    assert event.id == derived_id("ingest", source, "m-1")


async def test_admin_implies_events_write(api: Harness) -> None:
    response = await api.client.post("/v1/track", json=track(), headers=bearer("admin"))

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/v1/identify", "/v1/batch"])
async def test_a_token_without_events_write_is_403_saying_which_scope_and_how(
    api: Harness, path: str
) -> None:
    body = {"batch": [track()]} if path == "/v1/batch" else {"userId": "u-1"}

    response = await api.client.post(path, json=body, headers=bearer("customers:read"))

    assert response.status_code == 403
    error = response.json()
    assert error["success"] is False
    assert error["code"] == "forbidden"
    assert "needs the scope 'events:write'" in error["error"]
    assert "threadline token --scope 'events:write'" in error["error"]
    assert api.bus.published == []


async def test_an_invalid_token_is_401_even_with_a_write_key_in_the_body(api: Harness) -> None:
    forged = bearer("events:write", secret="another-secret-" + "x" * 40)

    response = await api.client.post("/v1/track", json={**track(), "writeKey": WRITE_KEY},
                                     headers=forged)  # fmt: skip

    assert response.status_code == 401
    assert "rejected" in response.json()["error"]
    assert api.bus.published == []


async def test_write_keys_keep_working_and_the_missing_credentials_error_names_both_ways(
    api: Harness,
) -> None:
    with_key = await api.client.post("/v1/track", json=track(), headers=basic(WRITE_KEY))
    without = await api.client.post("/v1/track", json=track("m-2"))

    assert with_key.status_code == 200
    assert without.status_code == 401
    assert "write key" in without.json()["error"]
    assert "Bearer" in without.json()["error"]
    assert "events:write" in without.json()["error"]
