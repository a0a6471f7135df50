"""The one JWKS cache: keys by ``kid``, refetched on rotation, bounded, resilient to outages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.auth import JwksCache, KeySetUnavailableError, TokenError, TokenVerifier
from tests.unit.auth.auth_issuer import ISSUER, JWKS_URL, Issuer


def verifier(issuer: Issuer, **options: Any) -> TokenVerifier:
    return TokenVerifier(jwks_url=JWKS_URL, issuer=ISSUER, http=issuer.client(), **options)


@pytest.fixture
def issuer() -> Issuer:
    issuer = Issuer()
    issuer.add_key("k1")
    return issuer


async def test_rs256_and_es256_tokens_verify_against_one_fetch_of_the_set(issuer: Issuer) -> None:
    issuer.add_key("ec", "ES256")
    tokens = verifier(issuer)

    rsa = await tokens.verify(issuer.token("k1", scope="admin"))
    ec = await tokens.verify(issuer.token("ec", scope="pii:read"))

    assert rsa.scopes == frozenset({"admin"})
    assert ec.scopes == frozenset({"pii:read"})
    assert issuer.fetches == 1


async def test_a_rotated_in_key_is_fetched_on_its_first_token(issuer: Issuer) -> None:
    tokens = verifier(issuer, jwks_min_refetch_seconds=0)
    await tokens.verify(issuer.token("k1"))
    issuer.add_key("k2")  # the provider rotates: k2 published, tokens now signed with it

    principal = await tokens.verify(issuer.token("k2", scope="admin"))

    assert principal.scopes == frozenset({"admin"})
    assert issuer.fetches == 2


async def test_unknown_kids_do_not_hammer_the_identity_provider(issuer: Issuer) -> None:
    issuer.add_key("rogue", publish=False)
    tokens = verifier(issuer, jwks_min_refetch_seconds=60)
    await tokens.verify(issuer.token("k1"))

    for _ in range(20):
        with pytest.raises(TokenError, match="not in the key set"):
            await tokens.verify(issuer.token("rogue"))

    assert issuer.fetches == 1


async def test_hs256_tokens_are_refused_when_only_a_jwks_is_configured(issuer: Issuer) -> None:
    with pytest.raises(TokenError, match=r"accepted: RS256, ES256 .*THREADLINE_JWT_SECRET"):
        await verifier(issuer).verify(issuer.token())


async def test_known_keys_keep_working_while_the_identity_provider_is_down(
    issuer: Issuer,
) -> None:
    now = [0.0]
    cache = JwksCache(JWKS_URL, client=issuer.client(), max_age=300, clock=lambda: now[0])
    await cache.key("k1")
    issuer.down = True
    now[0] = 301.0  # the cached set is stale; the refetch fails

    key = await cache.key("k1")

    assert key.algorithm_name == "RS256"
    assert issuer.fetches == 2


async def test_a_stale_set_is_refetched_and_retired_keys_are_dropped(issuer: Issuer) -> None:
    now = [0.0]
    cache = JwksCache(JWKS_URL, client=issuer.client(), max_age=300, clock=lambda: now[0])
    await cache.key("k1")
    issuer.add_key("k2")
    issuer.retire("k1")
    now[0] = 301.0

    await cache.key("k2")
    with pytest.raises(TokenError, match="'k1' is not in the key set"):
        await cache.key("k1")

    assert issuer.fetches == 2


async def test_an_unreachable_jwks_without_cached_keys_is_503_saying_what_to_check(
    issuer: Issuer,
) -> None:
    issuer.down = True

    with pytest.raises(KeySetUnavailableError, match=r"fetching the key set from .* failed") as e:
        await verifier(issuer).verify(issuer.token("k1"))

    assert e.value.status == 503
    assert "THREADLINE_JWKS_URL" in str(e.value)


async def test_keys_the_verifier_cannot_use_are_skipped_not_fatal() -> None:
    issuer = Issuer()
    issuer.add_key("k1")
    published = issuer.handler

    def handler(request: httpx.Request) -> httpx.Response:
        good = published(request).json()["keys"]
        odd = [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {"kty": "nope", "kid": "x"}]
        enc = {**good[0], "kid": "enc", "use": "enc"}
        return httpx.Response(200, json={"keys": [*odd, enc, *good]})

    cache = JwksCache(JWKS_URL, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))

    assert (await cache.key("k1")).algorithm_name == "RS256"
    for kid in ("hmac", "x", "enc"):
        with pytest.raises(TokenError, match="not in the key set"):
            await cache.key(kid)
