from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus
from tests.unit.profile.profile_events import at, segment
from tests.unit.profile.test_profile_graph import bearer, profile_app

SET_CONSENT = """mutation($id: ID!, $status: String!, $purpose: String, $channel: String) {
  setConsent(customerId: $id, status: $status, purpose: $purpose, channel: $channel,
             source: "call_center") {
    purpose channel status granted source eventId updatedAt
  }
}"""
CUSTOMER = """query($id: ID!) { customer(id: $id) {
  traits
  traitProvenance { name value strategy source channel eventId updatedAt }
  identifierCounts { type count }
  consents { purpose channel status granted source }
  consentHistory { purpose channel status source }
} }"""


@pytest.fixture
async def profile():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    await handle_ingested(
        [
            segment(
                "identify",
                "m1",
                userId="user-1",
                anonymousId="anon-1",
                traits={"email": "jo@example.com", "plan": "pro", "address": {"city": "Leeds"}},
                timestamp=at(10),
                context={"channel": "web", "consent": {"categoryPreferences": {"marketing": True}}},
            )
        ],
        store=store,
        publisher=bus,
    )
    app = profile_app(store, publisher=bus)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        yield client, next(iter(store.customer_docs)), bus


async def _post(client: httpx.AsyncClient, query: str, scopes: tuple[str, ...], **variables: Any):
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=bearer(*scopes)
    )
    return response.json()


async def test_set_consent_needs_the_consent_write_scope(profile):
    client, customer_id, bus = profile
    published = len(bus.published)

    answer = await _post(
        client, SET_CONSENT, ("customers:read",), id=customer_id, status="denied", purpose="ads"
    )

    [error] = answer["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "consent:write" in error["message"]
    assert len(bus.published) == published


async def test_set_consent_records_a_channel_statement_publishes_it_and_keeps_history(profile):
    client, customer_id, bus = profile

    answer = await _post(
        client, SET_CONSENT, ("consent:write",), id=customer_id, status="revoked", channel="EMAIL"
    )

    statement = answer["data"]["setConsent"]
    assert statement["purpose"] == "marketing"
    assert (statement["channel"], statement["status"], statement["granted"]) == (
        "email",
        "revoked",
        False,
    )
    assert statement["eventId"].startswith("operator:")
    [changed] = [e for e in bus.published if e.type == "io.threadline.consent.changed"][-1:]
    assert changed.data["channel"] == "email"
    assert changed.data["status"] == "revoked"
    assert changed.data["source"] == "call_center"
    assert changed.data["causedBy"] == statement["eventId"]
    customer = (await _post(client, CUSTOMER, ("customers:read",), id=customer_id))["data"][
        "customer"
    ]
    assert customer["consents"] == [
        {
            "purpose": "marketing",
            "channel": "email",
            "status": "revoked",
            "granted": False,
            "source": "call_center",
        },
        {
            "purpose": "marketing",
            "channel": None,
            "status": "granted",
            "granted": True,
            "source": "src00001",
        },
    ]
    assert customer["consentHistory"] == [
        {"purpose": "marketing", "channel": None, "status": "granted", "source": "src00001"},
        {"purpose": "marketing", "channel": "email", "status": "revoked", "source": "call_center"},
    ]


async def test_restating_the_current_status_publishes_nothing(profile):
    client, customer_id, bus = profile
    before = len(bus.published)

    answer = await _post(
        client, SET_CONSENT, ("admin",), id=customer_id, status="granted", purpose="Marketing"
    )

    assert answer["data"]["setConsent"]["status"] == "granted"
    assert len(bus.published) == before


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"status": "maybe", "purpose": "marketing"}, "granted, denied, revoked"),
        ({"status": "granted", "channel": "fax"}, "email, sms, push, phone"),
        ({"status": "granted"}, "purpose is missing"),
        ({"status": "granted", "purpose": "marketing", "id": "nobody"}, "no customer 'nobody'"),
    ],
)
async def test_set_consent_says_what_is_wrong_with_its_input(profile, variables, named):
    client, customer_id, _ = profile

    answer = await _post(
        client, SET_CONSENT, ("consent:write",), **{"id": customer_id, **variables}
    )

    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert named in error["message"]


async def test_trait_provenance_is_masked_like_traits_without_pii_read(profile):
    client, customer_id, _ = profile

    masked = (await _post(client, CUSTOMER, ("customers:read",), id=customer_id))["data"]
    clear = (await _post(client, CUSTOMER, ("customers:read", "pii:read"), id=customer_id))["data"]

    shown = {p["name"]: p["value"] for p in masked["customer"]["traitProvenance"]}
    assert shown == masked["customer"]["traits"]
    assert shown["email"] == "j***@example.com"
    assert shown["address"] != {"city": "Leeds"}
    assert {p["name"]: p["value"] for p in clear["customer"]["traitProvenance"]} == {
        "address": {"city": "Leeds"},
        "email": "jo@example.com",
        "plan": "pro",
    }
    plan = next(p for p in masked["customer"]["traitProvenance"] if p["name"] == "plan")
    assert (plan["strategy"], plan["source"], plan["channel"]) == ("latest", "src00001", "web")
    assert plan["updatedAt"].startswith("2026-03-01T10:00:00")
    assert plan["eventId"]
    assert masked["customer"]["identifierCounts"] == [
        {"type": "anonymous_id", "count": 1},
        {"type": "email", "count": 1},
        {"type": "user_id", "count": 1},
    ]
