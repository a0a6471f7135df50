from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.api.graph import ProfileContext, schema
from services.profile.domain.pii import PiiPolicy
from services.profile.handlers import handle_ingested
from shared.auth import Principal, TokenVerifier, issue_token
from shared.bus.in_memory import InMemoryBus
from shared.subgraph import AuthenticatedGraphQL
from tests.unit.profile.profile_events import at, segment

SECRET = "unit-secret-" + "x" * 32
CUSTOMER = """query($id: ID!) { customer(id: $id) {
  id traits channels firstSeen lastSeen
  identities { type value firstSeen lastSeen source }
  consents { purpose granted updatedAt source }
  segments { segmentId }
} }"""


@pytest.fixture
async def profile():
    store = InMemoryProfileStore()
    await handle_ingested(
        [
            segment(
                "identify",
                "m1",
                userId="user-1",
                anonymousId="anon-1",
                traits={"email": "jo@example.com", "firstName": "Jo", "plan": "pro"},
                timestamp=at(10),
                context={"channel": "web", "consent": {"categoryPreferences": {"ads": False}}},
            )
        ],
        store=store,
        publisher=InMemoryBus(),
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=profile_app(store)), base_url="http://profile"
    ) as client:
        yield client, next(iter(store.customer_docs))


def profile_app(store: InMemoryProfileStore, **context_fields: Any) -> Starlette:
    """The profile subgraph over ``store``, as the service serves it."""

    async def context(request: Any, principal: Principal) -> ProfileContext:
        return ProfileContext(principal=principal, store=store, **context_fields)

    return Starlette(
        routes=[
            Route(
                "/graphql",
                AuthenticatedGraphQL(
                    schema, verifier=TokenVerifier(secret=SECRET), context=context
                ),
            )
        ]
    )


def bearer(*scopes: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(SECRET, scopes)}"}


async def test_customer_without_pii_scope_has_masked_traits_and_identities(profile):
    client, customer_id = profile

    response = await client.post(
        "/graphql",
        json={"query": CUSTOMER, "variables": {"id": customer_id}},
        headers=bearer("customers:read"),
    )

    assert response.status_code == 200
    customer = response.json()["data"]["customer"]
    assert customer["traits"] == {"email": "j***@example.com", "firstName": "J***", "plan": "pro"}
    values = {i["type"]: i["value"] for i in customer["identities"]}
    assert values == {"user_id": "user-1", "anonymous_id": "anon-1", "email": "j***@example.com"}
    assert customer["channels"] == ["web"]
    assert customer["firstSeen"].startswith("2026-03-01T10:00:00")
    assert customer["consents"] == [
        {
            "purpose": "ads",
            "granted": False,
            "updatedAt": customer["firstSeen"],
            "source": "src00001",
        }
    ]
    assert customer["segments"] == []


async def test_customer_with_pii_scope_has_clear_traits(profile):
    client, customer_id = profile

    response = await client.post(
        "/graphql",
        json={"query": CUSTOMER, "variables": {"id": customer_id}},
        headers=bearer("customers:read", "pii:read"),
    )

    customer = response.json()["data"]["customer"]
    assert customer["traits"]["email"] == "jo@example.com"
    assert customer["traits"]["firstName"] == "Jo"


async def test_customer_by_identity_finds_the_owner_and_normalizes_emails(profile):
    client, customer_id = profile
    query = """query($t: String!, $v: String!) { customerByIdentity(type: $t, value: $v) { id } }"""

    found = await client.post(
        "/graphql",
        json={"query": query, "variables": {"t": "email", "v": " Jo@Example.COM "}},
        headers=bearer("customers:read"),
    )
    missing = await client.post(
        "/graphql",
        json={"query": query, "variables": {"t": "userId", "v": "nobody"}},
        headers=bearer("customers:read"),
    )

    assert found.json()["data"]["customerByIdentity"]["id"] == customer_id
    assert missing.json() == {"data": {"customerByIdentity": None}}


async def test_entities_resolve_the_customer_for_the_gateway(profile):
    client, customer_id = profile
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on Customer { id channels } } }"""

    response = await client.post(
        "/graphql",
        json={
            "query": query,
            "variables": {
                "r": [
                    {"__typename": "Customer", "id": customer_id},
                    {"__typename": "Customer", "id": "x"},
                ]
            },
        },
        headers=bearer("customers:read"),
    )

    assert response.json()["data"]["_entities"] == [{"id": customer_id, "channels": ["web"]}, None]


async def test_request_without_a_token_is_refused_with_401(profile):
    client, _ = profile

    response = await client.post("/graphql", json={"query": "{ __typename }"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_request_with_a_forged_token_is_refused_with_401(profile):
    client, _ = profile
    forged = issue_token("another-secret-" + "y" * 32, ["customers:read"])

    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"authorization": f"Bearer {forged}"}
    )

    assert response.status_code == 401
    assert "rejected" in response.json()["errors"][0]["message"]


async def test_token_without_customers_read_gets_a_forbidden_error(profile):
    client, customer_id = profile

    response = await client.post(
        "/graphql",
        json={"query": CUSTOMER, "variables": {"id": customer_id}},
        headers=bearer("events:write"),
    )

    body = response.json()
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "customers:read" in body["errors"][0]["message"]


async def test_without_configured_verification_every_request_is_refused():
    app = Starlette(
        routes=[Route("/graphql", AuthenticatedGraphQL(schema, verifier=None, context=None))]  # type: ignore[arg-type]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        response = await client.post("/graphql", json={"query": "{ __typename }"})

    assert response.status_code == 500
    assert "THREADLINE_JWT_SECRET" in response.json()["errors"][0]["message"]


LEAKY_TRAITS = {
    "workEmail": "jo.work@example.com",
    "mobileNumber": "+447911123400",
    "telephone": "+441132496000",
    "cell": "07911 123411",
    "surname": "Bloggs",
    "social_security_number": "078-05-1120",
    "creditCard": "4111 1111 1111 1111",
    "contact": {"email": "jo.contact@example.com", "phones": ["+447911123422"]},
}


async def leaky_profile(**context_fields: Any) -> tuple[Starlette, str]:
    store = InMemoryProfileStore()
    await handle_ingested(
        [
            segment(
                "identify",
                "m-leaky",
                userId="jo.user@example.com",
                traits={**LEAKY_TRAITS, "plan": "pro", "loyaltyTier": "gold"},
                timestamp=at(10),
            )
        ],
        store=store,
        publisher=InMemoryBus(),
    )

    return profile_app(store, **context_fields), next(iter(store.customer_docs))


async def fetch_customer(app: Starlette, customer_id: str, *scopes: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profile"
    ) as client:
        response = await client.post(
            "/graphql",
            json={"query": CUSTOMER, "variables": {"id": customer_id}},
            headers=bearer(*scopes),
        )
    assert response.status_code == 200
    return response


def raw_values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in raw_values(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in raw_values(item)]
    return [value]


async def test_pii_under_any_name_nested_or_in_a_user_id_is_masked_without_pii_scope() -> None:
    app, customer_id = await leaky_profile()

    response = await fetch_customer(app, customer_id, "customers:read")

    body = response.text
    leaked = [v for v in [*raw_values(LEAKY_TRAITS), "jo.user@example.com"] if v in body]
    assert leaked == []
    customer = response.json()["data"]["customer"]
    assert customer["traits"]["plan"] == "pro"
    assert customer["traits"]["contact"]["email"] == "j***@example.com"
    values = {i["type"]: i["value"] for i in customer["identities"]}
    assert values["user_id"] == "j***@example.com"


async def test_pii_is_shown_in_clear_with_pii_scope() -> None:
    app, customer_id = await leaky_profile()

    response = await fetch_customer(app, customer_id, "customers:read", "pii:read")

    customer = response.json()["data"]["customer"]
    assert {k: customer["traits"][k] for k in LEAKY_TRAITS} == LEAKY_TRAITS
    values = {i["type"]: i["value"] for i in customer["identities"]}
    assert values["user_id"] == "jo.user@example.com"


async def test_trait_names_configured_as_pii_are_masked() -> None:
    app, customer_id = await leaky_profile(pii=PiiPolicy.of(["loyalty_tier"]))

    response = await fetch_customer(app, customer_id, "customers:read")

    assert response.json()["data"]["customer"]["traits"]["loyaltyTier"] == "***"


IDENTITY_QUERY = (
    "query($t: String!, $v: String!) { customerByIdentity(type: $t, value: $v) { id } }"
)


async def _by_identity(client: httpx.AsyncClient, kind: str, value: str) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": IDENTITY_QUERY, "variables": {"t": kind, "v": value}},
        headers=bearer("customers:read"),
    )
    return response.json()


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("phone", "+49 30 1234567"),
        ("phone", "+49 (30) 123-4567"),
        ("phone", "+49301234567"),
        ("email", "ＪＯ@example.com"),  # full-width letters
        ("email", "j\u200bo@example.com"),  # a zero-width space
        ("user_id", "user-1"),
        ("userId", "user-1"),
        ("anonymous_id", "anon-1"),
        ("anonymousId", "anon-1"),
    ],
)
async def test_customer_by_identity_canonicalizes_the_value_exactly_as_ingestion_does(kind, value):
    store = InMemoryProfileStore()
    await handle_ingested(
        [
            segment(
                "identify",
                "m1",
                userId="user-1",
                anonymousId="anon-1",
                traits={"email": "jo@example.com", "phone": "030 1234567", "country": "DE"},
                timestamp=at(10),
            )
        ],
        store=store,
        publisher=InMemoryBus(),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=profile_app(store)), base_url="http://profile"
    ) as client:
        answer = await _by_identity(client, kind, value)

    assert answer == {"data": {"customerByIdentity": {"id": next(iter(store.customer_docs))}}}


async def test_customer_by_identity_names_what_is_wrong_with_a_value(profile):
    client, _ = profile

    answer = await _by_identity(client, "phone", "+49 call me maybe")

    assert answer["data"] == {"customerByIdentity": None}
    [error] = answer["errors"]
    assert "phone" in error["message"]
    assert "not a phone number" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_national_phone_number_is_read_in_the_deployments_default_region():
    """THREADLINE_DEFAULT_PHONE_REGION: a query for ``030 1234567`` in Germany finds the
    customer stored as +49301234567; without the setting the same query asks for the
    +country form."""
    store = InMemoryProfileStore()
    await handle_ingested(
        [
            segment(
                "identify", "m1", userId="u-1", traits={"phone": "+49301234567"}, timestamp=at(10)
            )
        ],
        store=store,
        publisher=InMemoryBus(),
    )
    german = profile_app(store, default_region="DE")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=german), base_url="http://profile"
    ) as client:
        found = await _by_identity(client, "phone", "030 1234567")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=profile_app(store)), base_url="http://profile"
    ) as client:
        refused = await _by_identity(client, "phone", "030 1234567")

    assert found == {"data": {"customerByIdentity": {"id": next(iter(store.customer_docs))}}}
    assert "+country" in refused["errors"][0]["message"]
