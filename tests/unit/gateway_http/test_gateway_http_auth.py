"""Bearer JWTs: HS256 and RS256 via a rotating JWKS; what is forwarded to the engine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.http import create_app
from gateway.security import AuthenticationError, Authenticator
from shared.errors import ConfigurationError
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, bearer, settings, token

JWKS_URL = "https://issuer.example/.well-known/jwks.json"
WHOAMI = "{ whoami { scopes clientId authorization traceparent } }"


def client_for(engine: FakeEngine, **overrides: Any) -> httpx.AsyncClient:
    app = create_app(engine, settings(**overrides))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def ask(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/graphql",
        content=orjson.dumps({"query": WHOAMI}),
        headers={"content-type": "application/json", **headers},
    )


async def test_request_without_token_is_401_with_challenge_and_never_reaches_engine() -> None:
    engine = FakeEngine()
    async with client_for(engine) as client:
        response = await ask(client, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="threadline"')
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert engine.prepared == []


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <JWT>'"),
        ({"authorization": "Bearer not-a-jwt"}, "not a JWT"),
        (bearer(secret="another-secret-entirely-also-long-enough"), "rejected"),
        (bearer(lifetime=-3600), "expired"),
        (bearer(nbf=int(time.time()) + 3600), "not valid yet"),
        (bearer(iss="someone-else"), "issued by someone else"),
    ],
)
async def test_bad_tokens_are_401_saying_why(headers: dict[str, str], reason: str) -> None:
    engine = FakeEngine()
    async with client_for(engine) as client:
        response = await ask(client, headers)
    assert response.status_code == 401
    assert reason in response.json()["errors"][0]["message"]
    assert 'error="invalid' in response.headers["www-authenticate"]
    assert engine.prepared == []


async def test_audience_is_checked_when_configured() -> None:
    engine = FakeEngine()
    async with client_for(engine, jwt_audience="threadline-gateway") as client:
        wrong = await ask(client, bearer(aud="billing"))
        right = await ask(client, bearer(aud="threadline-gateway"))
    assert wrong.status_code == 401
    assert "not meant for this gateway" in wrong.json()["errors"][0]["message"]
    assert right.status_code == 200


async def test_unsigned_tokens_are_refused() -> None:
    unsigned = jwt.encode(
        {"sub": "x", "exp": int(time.time()) + 60, "iss": "threadline"},
        None,  # type: ignore[arg-type]  # PyJWT's stubs omit the key-less "none" algorithm
        algorithm="none",
    )
    async with client_for(FakeEngine()) as client:
        response = await ask(client, {"authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401
    assert "'none' are not accepted" in response.json()["errors"][0]["message"]


async def test_scopes_credentials_and_traceparent_are_forwarded_to_the_engine() -> None:
    engine = FakeEngine()
    headers = bearer("customers:read pii:read", subject="ada")
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with client_for(engine) as client:
        response = await ask(client, {**headers, "traceparent": traceparent})
    who = response.json()["data"]["whoami"]
    assert who["scopes"] == ["customers:read", "pii:read"]
    assert who["clientId"] == "sub:ada"
    assert who["authorization"] == headers["authorization"]
    assert who["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    context = engine.executed[0][1]
    assert context.scopes == frozenset({"customers:read", "pii:read"})


async def test_anonymous_requests_pass_when_auth_is_optional_but_bad_tokens_do_not() -> None:
    engine = FakeEngine()
    async with client_for(engine, auth_required=False) as client:
        anonymous = await ask(client, {})
        forged = await ask(client, bearer(secret="forged-secret-that-is-long-enough-too"))
    assert anonymous.status_code == 200
    assert anonymous.json()["data"]["whoami"]["scopes"] == []
    assert anonymous.json()["data"]["whoami"]["clientId"].startswith("ip:")
    assert forged.status_code == 401


def test_requiring_auth_without_any_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="THREADLINE_JWT_SECRET"):
        create_app(FakeEngine(), settings(jwt_secret=None))


class Issuer:
    """An RS256 identity provider whose JWKS the gateway fetches through a mock transport."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0

    def add_key(self, kid: str, *, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        keys = []
        for kid in self.published:
            jwk = RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return httpx.Response(200, json={"keys": keys})

    def token(self, kid: str, scope: str = "customers:read") -> str:
        claims = {"sub": "svc", "scope": scope, "iss": "threadline", "exp": time.time() + 60}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


def authenticator(issuer: Issuer, **overrides: Any) -> Authenticator:
    client = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler))
    return Authenticator(
        settings(jwt_secret=None, jwks_url=JWKS_URL, **overrides), http_client=client
    )


async def test_rs256_tokens_verify_against_the_jwks_and_keys_are_cached() -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    auth = authenticator(issuer)
    first = await auth.authenticate(f"Bearer {issuer.token('k1', 'admin')}")
    second = await auth.authenticate(f"Bearer {issuer.token('k1', 'pii:read')}")
    assert first is not None
    assert first.scopes == frozenset({"admin"})
    assert second is not None
    assert second.scopes == frozenset({"pii:read"})
    assert issuer.fetches == 1


async def test_a_rotated_in_key_is_fetched_on_its_first_token() -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    auth = authenticator(issuer, jwks_min_refetch_seconds=0)
    await auth.authenticate(f"Bearer {issuer.token('k1')}")
    issuer.add_key("k2")  # the provider rotates: k2 published, tokens now signed with it
    principal = await auth.authenticate(f"Bearer {issuer.token('k2', 'admin')}")
    assert principal is not None
    assert principal.scopes == frozenset({"admin"})
    assert issuer.fetches == 2


async def test_unknown_kids_do_not_hammer_the_identity_provider() -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    issuer.add_key("rogue", publish=False)
    auth = authenticator(issuer, jwks_min_refetch_seconds=60)
    await auth.authenticate(f"Bearer {issuer.token('k1')}")
    for _ in range(20):
        with pytest.raises(AuthenticationError, match="not in the key set"):
            await auth.authenticate(f"Bearer {issuer.token('rogue')}")
    assert issuer.fetches == 1


async def test_hs256_tokens_are_refused_when_only_a_jwks_is_configured() -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    auth = authenticator(issuer)
    with pytest.raises(AuthenticationError, match="accepted: RS256"):
        await auth.authenticate(f"Bearer {token()}")


async def test_known_keys_keep_working_while_the_identity_provider_is_down() -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    healthy = issuer.handler
    calls = {"down": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if calls["down"]:
            return httpx.Response(503)
        return healthy(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    auth = Authenticator(
        settings(jwt_secret=None, jwks_url=JWKS_URL, jwks_cache_seconds=0.001),
        http_client=client,
    )
    await auth.authenticate(f"Bearer {issuer.token('k1')}")
    calls["down"] = True
    await asyncio.sleep(0.01)  # the cached set is now stale; the refetch fails
    principal = await auth.authenticate(f"Bearer {issuer.token('k1', 'pii:read')}")
    assert principal is not None
    assert principal.scopes == frozenset({"pii:read"})


async def test_an_unreachable_jwks_without_cached_keys_refuses_with_the_reason() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    issuer = Issuer()
    issuer.add_key("k1")
    auth = Authenticator(
        settings(jwt_secret=None, jwks_url=JWKS_URL),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(AuthenticationError, match=r"fetching the key set from .* failed"):
        await auth.authenticate(f"Bearer {issuer.token('k1')}")
