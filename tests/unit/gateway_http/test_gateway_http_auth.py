"""Bearer JWTs at the gateway's HTTP surface: refusals, challenges, what reaches the engine.

Verification itself (JWKS rotation, the verified-token cache, ``scp``) is
``shared.auth``'s and tested in ``tests/unit/auth``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.http import create_app
from shared.errors import ConfigurationError
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, bearer, settings

_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
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


# Tokens are made when the test runs, not when it is collected: a long suite would
# otherwise let them expire before they are sent, and the refusal would say so instead.
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda: {"authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <JWT>'"),
        (lambda: {"authorization": "Bearer not-a-jwt"}, "not a JWT"),
        (lambda: bearer(secret="another-secret-entirely-also-long-enough"), "rejected"),
        (lambda: bearer(lifetime=-3600), "expired"),
        (lambda: bearer(nbf=int(time.time()) + 3600), "not valid yet"),
        (lambda: bearer(iss="someone-else"), "issued by someone else"),
        (lambda: bearer(sub=None), "no 'sub' claim"),
    ],
    ids=["basic", "not-a-jwt", "bad-signature", "expired", "not-yet", "issuer", "no-sub"],
)
async def test_bad_tokens_are_401_saying_why(
    headers: Callable[[], dict[str, str]], reason: str
) -> None:
    engine = FakeEngine()
    async with client_for(engine) as client:
        response = await ask(client, headers())
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
    assert "not meant for this audience" in wrong.json()["errors"][0]["message"]
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


async def test_an_unreachable_jwks_is_503_to_retry_not_a_challenge() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    app = create_app(
        FakeEngine(),
        settings(jwt_secret=None, jwks_url="https://idp.example/jwks"),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    rs256 = jwt.encode({"sub": "x"}, _RSA_KEY, algorithm="RS256", headers={"kid": "k1"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        response = await ask(client, {"authorization": f"Bearer {rs256}"})

    assert response.status_code == 503
    assert "www-authenticate" not in response.headers
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "AUTH_UNAVAILABLE"
    assert "THREADLINE_JWKS_URL" in error["message"]


async def test_the_gateway_settings_reach_the_shared_verifier() -> None:
    just_expired = bearer(lifetime=-5)
    async with client_for(FakeEngine()) as lenient:
        accepted = await ask(lenient, just_expired)
    async with client_for(FakeEngine(), jwt_leeway_seconds=0) as strict:
        refused = await ask(strict, just_expired)

    assert accepted.status_code == 200  # within the default 30 s leeway
    assert refused.status_code == 401


@pytest.mark.parametrize(("cache_size", "fetches"), [(4096, 1), (0, 3)])
async def test_jwt_cache_size_turns_the_verified_token_cache_on_and_off(
    cache_size: int, fetches: int
) -> None:
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        jwk = RSAAlgorithm.to_jwk(_RSA_KEY.public_key(), as_dict=True)
        return httpx.Response(200, json={"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]})

    app = create_app(
        FakeEngine(),
        settings(
            jwt_secret=None,
            jwks_url="https://idp.example/jwks",
            jwt_cache_size=cache_size,
            jwks_cache_seconds=1e-9,  # stale at once: every real verification refetches
            jwks_min_refetch_seconds=0,
        ),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    claims = {"sub": "svc", "iss": "threadline", "exp": int(time.time()) + 60}
    rs256 = jwt.encode(claims, _RSA_KEY, algorithm="RS256", headers={"kid": "k1"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        statuses = [
            (await ask(client, {"authorization": f"Bearer {rs256}"})).status_code for _ in range(3)
        ]

    assert statuses == [200, 200, 200]
    assert len(calls) == fetches
