"""The shared token verifier: claims, scopes, the ``sub`` rule, and its verified-token cache."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from shared.auth import (
    ADMIN,
    EVENTS_WRITE,
    MissingScopeError,
    Principal,
    TokenError,
    TokenVerifier,
    VerifiedTokens,
    parse_scopes,
    require_scope,
)
from shared.errors import ConfigurationError
from tests.unit.auth.auth_issuer import ISSUER, JWKS_URL, SECRET, Issuer


def hs256(**options: Any) -> TokenVerifier:
    return TokenVerifier(secret=SECRET, issuer=ISSUER, **options)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "customers:read pii:read"}, {"customers:read", "pii:read"}),
        ({"scope": ["customers:read", "admin"]}, {"customers:read", "admin"}),
        ({"scope": None, "scp": ["customers:read", "pii:read"]}, {"customers:read", "pii:read"}),
        ({"scope": None, "scp": "events:write"}, {"events:write"}),
        ({"scope": "pii:read", "scp": ["admin"]}, {"pii:read"}),
        ({"scope": None}, set()),
    ],
    ids=["scope-string", "scope-list", "scp-list", "scp-string", "scope-wins", "none"],
)
async def test_scopes_come_from_the_scope_claim_or_else_scp(
    issuer: Issuer, claims: dict[str, Any], scopes: set[str]
) -> None:
    principal = await hs256().verify(issuer.token(**claims))

    assert principal.scopes == frozenset(scopes)
    assert principal.subject == "user-1"


async def test_a_token_without_sub_is_refused_naming_the_claim_and_the_fix(
    issuer: Issuer,
) -> None:
    for token in (issuer.token(sub=None), issuer.token(sub="")):
        with pytest.raises(TokenError, match=r"no 'sub' claim.*ask the issuer") as refused:
            await hs256().verify(token)
        assert refused.value.status == 401
        assert refused.value.error == "invalid_token"


async def test_a_token_without_exp_is_refused(issuer: Issuer) -> None:
    with pytest.raises(TokenError, match="no 'exp' claim"):
        await hs256().verify(issuer.token(exp=None))


async def test_expiry_and_not_before_allow_the_configured_leeway(issuer: Issuer) -> None:
    now = int(time.time())
    just_expired = issuer.token(iat=now - 100, exp=now - 10)
    not_yet = issuer.token(nbf=now + 60)

    assert (await hs256(leeway=30).verify(just_expired)).expires_at == now - 10
    with pytest.raises(TokenError, match="has expired; get a new one"):
        await hs256(leeway=0).verify(just_expired)
    with pytest.raises(TokenError, match="not valid yet"):
        await hs256(leeway=30).verify(not_yet)


async def test_issuer_and_audience_refusals_name_the_expected_value_and_setting(
    issuer: Issuer,
) -> None:
    strict = TokenVerifier(secret=SECRET, issuer=ISSUER, audience="api")

    with pytest.raises(TokenError, match=r"expected issuer 'threadline'.*THREADLINE_JWT_ISSUER"):
        await strict.verify(issuer.token(iss="elsewhere", aud="api"))
    with pytest.raises(TokenError, match=r"'api'.*THREADLINE_JWT_AUDIENCE"):
        await strict.verify(issuer.token(aud="billing"))
    assert (await strict.verify(issuer.token(aud=["billing", "api"]))).subject == "user-1"


async def test_a_token_whose_alg_does_not_match_its_jwks_key_is_refused(issuer: Issuer) -> None:
    issuer.add_key("ec", "ES256")
    issuer.add_key("rsa", "RS256", publish=False)
    _, rsa_key = issuer.keys["rsa"]
    claims = {"sub": "x", "iss": ISSUER, "exp": int(time.time()) + 60}
    confused = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "ec"})
    tokens = TokenVerifier(jwks_url=JWKS_URL, issuer=ISSUER, http=issuer.client())

    with pytest.raises(TokenError, match="says 'RS256' but its key 'ec' is a ES256 key"):
        await tokens.verify(confused)


def test_a_verifier_without_secret_or_jwks_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"THREADLINE_JWT_SECRET.*THREADLINE_JWKS_URL"):
        TokenVerifier(secret="", jwks_url=None)


async def test_the_verified_token_cache_checks_a_repeated_token_once(issuer: Issuer) -> None:
    issuer.add_key("k1")
    token = issuer.token("k1")

    def verifier(cache_size: int) -> TokenVerifier:
        # A set that is stale at once: every real verification refetches it.
        return TokenVerifier(
            jwks_url=JWKS_URL,
            issuer=ISSUER,
            http=issuer.client(),
            cache_size=cache_size,
            jwks_max_age=0.0,
            jwks_min_refetch_seconds=0.0,
        )

    uncached, cached = verifier(0), verifier(16)
    for _ in range(3):
        await uncached.verify(token)
    fetches_without_cache = issuer.fetches
    for _ in range(3):
        await cached.verify(token)

    assert fetches_without_cache == 3
    assert issuer.fetches - fetches_without_cache == 1


def test_cached_principals_are_served_until_exp_plus_leeway_and_the_cache_is_bounded() -> None:
    now = [0.0]
    cache = VerifiedTokens(2, leeway=30, clock=lambda: now[0])
    cache.put("a", Principal("a", frozenset(), expires_at=100.0))
    cache.put("b", Principal("b", frozenset(), expires_at=1000.0))

    now[0] = 129.0
    assert cache.get("a") is not None
    now[0] = 130.0
    assert cache.get("a") is None

    cache.put("c", Principal("c", frozenset(), expires_at=1000.0))
    cache.get("b")  # b is now the most recently used
    cache.put("d", Principal("d", frozenset(), expires_at=1000.0))
    assert [cache.get(t) is not None for t in ("b", "c", "d")] == [True, False, True]
    assert len(cache) == 2


def test_missing_scope_says_which_scope_and_how_to_get_a_token() -> None:
    reader = Principal("u", frozenset({"customers:read"}))

    with pytest.raises(MissingScopeError, match="needs the scope 'events:write'") as refused:
        reader.require(EVENTS_WRITE)

    assert "threadline token --scope 'events:write'" in str(refused.value)
    assert refused.value.status == 403
    Principal("root", frozenset({ADMIN})).require(EVENTS_WRITE)  # admin implies every scope
    require_scope({"events:write"}, EVENTS_WRITE)
    assert parse_scopes({"scp": ("a", "b")}) == frozenset({"a", "b"})
