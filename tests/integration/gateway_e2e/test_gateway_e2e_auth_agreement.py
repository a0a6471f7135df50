"""Over real sockets: the gateway and a Threadline subgraph behind it agree on every token.

The subgraph is served by uvicorn behind ``shared.subgraph.AuthenticatedGraphQL``;
the gateway (uvicorn, ``FederationEngine``) serves the supergraph composed from it
and forwards each caller's token, which the subgraph verifies again. Both fetch
the same JWKS from a live identity-provider stub. Each token is sent to the
subgraph directly and through the gateway; the outcomes must be the same.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.federation import Schema
from strawberry.types import Info

from gateway.composition import compose, fetch_subgraph_sdl
from shared.auth import Principal, TokenVerifier
from shared.subgraph import AuthenticatedGraphQL
from tests.integration.gateway_e2e.e2e_servers import serving
from tests.integration.gateway_e2e.e2e_stack import gateway_settings, running_gateway
from tests.integration.gateway_e2e.e2e_subgraph_app import JWT_SECRET
from tests.unit.auth.auth_issuer import Issuer

pytestmark = pytest.mark.slow

AUDIENCE = "threadline-api"
WHOAMI = "{ whoami { subject scopes } }"


@strawberry.type
class Whoami:
    subject: str
    scopes: list[str]


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: Info[Principal, None]) -> Whoami:
        return Whoami(subject=info.context.subject, scopes=sorted(info.context.scopes))


@dataclass
class Stack:
    issuer: Issuer
    subgraph_url: str
    gateway_url: str

    async def outcomes(self, client: httpx.AsyncClient, token: str) -> tuple[Any, Any]:
        headers = {"authorization": f"Bearer {token}"}
        direct = await client.post(self.subgraph_url, json={"query": WHOAMI}, headers=headers)
        via = await client.post(self.gateway_url, json={"query": WHOAMI}, headers=headers)
        return _outcome(direct), _outcome(via)


def _outcome(response: httpx.Response) -> tuple[int, Any, bool]:
    body = response.json()
    return response.status_code, body.get("data"), "errors" in body


@asynccontextmanager
async def stack(issuer: Issuer) -> AsyncIterator[Stack]:
    async def jwks(_: Request) -> JSONResponse:
        if issuer.down:
            return JSONResponse({}, status_code=503)
        return JSONResponse(issuer.jwks())

    async def context(_: Request, principal: Principal) -> Principal:
        return principal

    async with AsyncExitStack() as exits:
        idp = await exits.enter_async_context(serving(Starlette(routes=[Route("/jwks", jwks)])))
        jwks_url = f"{idp}/jwks"
        verifier = TokenVerifier(
            secret=JWT_SECRET,
            jwks_url=jwks_url,
            issuer="threadline",
            audience=AUDIENCE,
            jwks_min_refetch_seconds=0.0,
        )
        exits.push_async_callback(verifier.aclose)
        graphql = AuthenticatedGraphQL(Schema(query=Query), verifier=verifier, context=context)
        subgraph = await exits.enter_async_context(
            serving(Starlette(routes=[Route("/graphql", graphql)]))
        )
        subgraph_url = f"{subgraph}/graphql"
        service_token = issuer.token(aud=AUDIENCE, sub="composer")
        async with httpx.AsyncClient(timeout=10) as client:
            definition = await fetch_subgraph_sdl(
                client, "whoami", subgraph_url, {"authorization": f"Bearer {service_token}"}
            )
        settings = gateway_settings(
            jwks_url=jwks_url,
            jwt_audience=AUDIENCE,
            jwks_min_refetch_seconds=0.0,
            rate_limit_per_second=0.0,
        )
        gateway = await exits.enter_async_context(
            running_gateway(compose([definition]), settings, {"whoami": subgraph_url})
        )
        yield Stack(issuer, subgraph_url, f"{gateway.base_url}/graphql")


@pytest.fixture(scope="module")
async def both() -> AsyncIterator[Stack]:
    issuer = Issuer(secret=JWT_SECRET)
    issuer.add_key("rsa-1", "RS256")
    issuer.add_key("ec-1", "ES256")
    issuer.add_key("rogue", "RS256", publish=False)
    async with stack(issuer) as served:
        yield served


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


def _now() -> int:
    return int(time.time())


def _accepted(subject: str, *scopes: str) -> tuple[int, Any, bool]:
    return 200, {"whoami": {"subject": subject, "scopes": sorted(scopes)}}, False


REFUSED = (401, None, True)
CASES: dict[str, tuple[Callable[[Issuer], str], tuple[int, Any, bool]]] = {
    "hs256": (lambda i: i.token(aud=AUDIENCE), _accepted("user-1", "customers:read")),
    "rs256": (lambda i: i.token("rsa-1", aud=AUDIENCE), _accepted("user-1", "customers:read")),
    "es256": (
        lambda i: i.token("ec-1", aud=AUDIENCE, sub="svc"),
        _accepted("svc", "customers:read"),
    ),
    "scp-list": (
        lambda i: i.token("ec-1", aud=AUDIENCE, scope=None, scp=["pii:read", "customers:read"]),
        _accepted("user-1", "customers:read", "pii:read"),
    ),
    "no-sub": (lambda i: i.token("rsa-1", aud=AUDIENCE, sub=None), REFUSED),
    "expired": (lambda i: i.token(aud=AUDIENCE, iat=_now() - 900, exp=_now() - 300), REFUSED),
    "wrong-audience": (lambda i: i.token("rsa-1", aud="billing"), REFUSED),
    "wrong-issuer": (lambda i: i.token("ec-1", aud=AUDIENCE, iss="elsewhere"), REFUSED),
    "unpublished-key": (lambda i: i.token("rogue", aud=AUDIENCE), REFUSED),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_token_gets_the_same_answer_from_the_subgraph_and_through_the_gateway(
    both: Stack, client: httpx.AsyncClient, case: str
) -> None:
    make, expected = CASES[case]

    direct, via_gateway = await both.outcomes(client, make(both.issuer))

    assert direct == expected
    assert via_gateway == expected


async def test_after_key_rotation_both_accept_the_new_key_and_refuse_the_retired_one(
    both: Stack, client: httpx.AsyncClient
) -> None:
    issuer = both.issuer
    before = await both.outcomes(client, issuer.token("rsa-1", aud=AUDIENCE, scope="admin"))
    issuer.add_key("rsa-2", "RS256")
    issuer.retire("rsa-1")
    try:
        rotated = await both.outcomes(client, issuer.token("rsa-2", aud=AUDIENCE, scope="admin"))
        retired = await both.outcomes(client, issuer.token("rsa-1", aud=AUDIENCE, sub="late"))
    finally:
        issuer.published.append("rsa-1")

    assert before == (_accepted("user-1", "admin"),) * 2
    assert rotated == (_accepted("user-1", "admin"),) * 2
    assert retired == (REFUSED, REFUSED)
