"""The gateway and a subgraph verify tokens with one implementation, so they agree.

Every case sends the same token to the gateway's ``/graphql`` and to a
Threadline subgraph behind :class:`shared.subgraph.AuthenticatedGraphQL`, both
configured as an operator would (one HS256 secret, one JWKS URL, one issuer,
one audience), and expects the same outcome: both accept with the same
subject and scopes, or both refuse with 401.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.federation import Schema
from strawberry.types import Info

from gateway.http import create_app
from shared.auth import Principal, TokenVerifier
from shared.subgraph import AuthenticatedGraphQL
from tests.unit.auth.auth_issuer import ISSUER, JWKS_URL, SECRET, Issuer
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, settings

AUDIENCE = "threadline-api"


@dataclass(frozen=True)
class Context:
    principal: Principal


@strawberry.type
class Whoami:
    subject: str
    scopes: list[str]


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: Info[Context, None]) -> Whoami:
        principal = info.context.principal
        return Whoami(subject=str(principal.subject), scopes=sorted(principal.scopes))


SUBGRAPH_SCHEMA = Schema(query=Query)


@dataclass(frozen=True)
class Outcome:
    status: int
    scopes: list[str] | None


@dataclass
class Pair:
    """The gateway and a subgraph, both verifying against one issuer."""

    gateway: httpx.AsyncClient
    subgraph: httpx.AsyncClient

    async def outcomes(self, token: str) -> tuple[Outcome, Outcome]:
        headers = {"authorization": f"Bearer {token}"}
        at_gateway = await self.gateway.post(
            "/graphql", json={"query": "{ whoami { scopes } }"}, headers=headers
        )
        at_subgraph = await self.subgraph.post(
            "/graphql", json={"query": "{ whoami { scopes } }"}, headers=headers
        )
        return _outcome(at_gateway), _outcome(at_subgraph)


def _outcome(response: httpx.Response) -> Outcome:
    body = response.json()
    data = body.get("data") or {}
    whoami = data.get("whoami")
    return Outcome(response.status_code, whoami["scopes"] if whoami else None)


@pytest.fixture
async def issuer() -> Issuer:
    issuer = Issuer()
    issuer.add_key("rsa-1", "RS256")
    issuer.add_key("ec-1", "ES256")
    return issuer


def _subgraph_verifier(issuer: Issuer, **options: Any) -> TokenVerifier:
    return TokenVerifier(
        secret=SECRET,
        jwks_url=JWKS_URL,
        issuer=ISSUER,
        audience=AUDIENCE,
        http=issuer.client(),
        **options,
    )


@pytest.fixture
async def pair(issuer: Issuer) -> AsyncIterator[Pair]:
    async with _pair(issuer) as built:
        yield built


class _pair:
    def __init__(self, issuer: Issuer, **refetch: Any) -> None:
        gateway_app = create_app(
            FakeEngine(),
            settings(jwt_secret=SECRET, jwks_url=JWKS_URL, jwt_audience=AUDIENCE, **refetch),
            http_client=issuer.client(),
        )

        async def context(_: Request, principal: Principal) -> Context:
            return Context(principal)

        subgraph_options = (
            {"jwks_min_refetch_seconds": refetch["jwks_min_refetch_seconds"]} if refetch else {}
        )
        graphql = AuthenticatedGraphQL(
            SUBGRAPH_SCHEMA,
            verifier=_subgraph_verifier(issuer, **subgraph_options),
            context=context,
        )
        subgraph_app = Starlette(routes=[Route("/graphql", graphql)])
        self.pair = Pair(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway"
            ),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=subgraph_app), base_url="http://subgraph"
            ),
        )

    async def __aenter__(self) -> Pair:
        return self.pair

    async def __aexit__(self, *_: object) -> None:
        await self.pair.gateway.aclose()
        await self.pair.subgraph.aclose()


READ = ["customers:read"]
CASES: dict[str, tuple[Callable[[Issuer], str], int, list[str] | None]] = {
    "hs256": (lambda i: i.token(aud=AUDIENCE), 200, READ),
    "rs256-jwks": (lambda i: i.token("rsa-1", aud=AUDIENCE), 200, READ),
    "es256-jwks": (lambda i: i.token("ec-1", aud=AUDIENCE), 200, READ),
    "scp-list": (
        lambda i: i.token("rsa-1", aud=AUDIENCE, scope=None, scp=["customers:read", "pii:read"]),
        200,
        ["customers:read", "pii:read"],
    ),
    "scp-string": (
        lambda i: i.token(aud=AUDIENCE, scope=None, scp="customers:read pii:read"),
        200,
        ["customers:read", "pii:read"],
    ),
    "no-sub": (lambda i: i.token(aud=AUDIENCE, sub=None), 401, None),
    "expired": (
        lambda i: i.token(aud=AUDIENCE, iat=int(time.time()) - 900, exp=int(time.time()) - 300),
        401,
        None,
    ),
    "wrong-audience": (lambda i: i.token("rsa-1", aud="billing"), 401, None),
    "no-audience": (lambda i: i.token("rsa-1"), 401, None),
    "wrong-issuer": (lambda i: i.token("ec-1", aud=AUDIENCE, iss="someone-else"), 401, None),
    "unpublished-key": (lambda i: i.token("rogue", aud=AUDIENCE), 401, None),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_gateway_and_subgraph_give_the_same_outcome_for_the_same_token(
    issuer: Issuer, pair: Pair, case: str
) -> None:
    issuer.add_key("rogue", "RS256", publish=False)
    make, status, scopes = CASES[case]
    token = make(issuer)

    at_gateway, at_subgraph = await pair.outcomes(token)

    assert at_gateway == at_subgraph
    assert at_gateway == Outcome(status, scopes)


async def test_a_rotated_in_jwks_key_is_accepted_by_both_on_its_first_token(
    issuer: Issuer,
) -> None:
    async with _pair(issuer, jwks_min_refetch_seconds=0) as both:
        before = await both.outcomes(issuer.token("rsa-1", aud=AUDIENCE))
        issuer.add_key("rsa-2", "RS256")  # the provider publishes k2 and signs with it
        issuer.retire("rsa-1")
        after = await both.outcomes(issuer.token("rsa-2", aud=AUDIENCE, scope="admin"))
        retired = await both.outcomes(issuer.token("rsa-1", aud=AUDIENCE, scope="pii:read"))

    assert before == (Outcome(200, READ), Outcome(200, READ))
    assert after == (Outcome(200, ["admin"]), Outcome(200, ["admin"]))
    # A retired key is refused once a fetch has shown it is gone from the set.
    assert retired == (Outcome(401, None), Outcome(401, None))


async def test_an_unreachable_jwks_is_503_at_both_so_clients_retry(
    issuer: Issuer, pair: Pair
) -> None:
    issuer.down = True

    at_gateway, at_subgraph = await pair.outcomes(issuer.token("rsa-1", aud=AUDIENCE))

    assert at_gateway == at_subgraph == Outcome(503, None)
