"""Bearer JWTs: the verifier the gateway and every service share, and local token issuing.

A token is accepted when its header's ``alg`` has a key here (``HS256`` with the
configured secret; ``RS256``/``ES256`` with a key of the JWKS, matched by
``kid``), its signature holds, and its claims pass: ``exp`` and ``sub``
required, ``nbf``/``iat`` not in the future, ``iss`` and ``aud`` as configured,
all with ``leeway`` seconds of clock skew. A token without ``sub`` is refused:
RFC 9068 requires it, the gateway rate-limits by it, and a machine client's
token names the client there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import jwt

from shared.auth.cache import VerifiedTokens
from shared.auth.errors import TokenError
from shared.auth.jwks import ASYMMETRIC_ALGORITHMS, JwksCache
from shared.auth.principal import Principal
from shared.auth.scopes import parse_scopes
from shared.errors import ConfigurationError

REQUIRED_CLAIMS = ("exp", "sub")


class TokenVerifier:
    """Verifies bearer tokens into :class:`Principal` s.

    With ``cache_size`` > 0, verified tokens are remembered (bounded, until
    they expire), as the gateway does for clients that send the same token on
    every request. ``http`` is the client the JWKS is fetched with.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        cache_size: int = 0,
        http: httpx.AsyncClient | None = None,
        jwks_max_age: float = 300.0,
        jwks_min_refetch_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret and not jwks_url:
            raise ConfigurationError(
                "no token verification configured: set THREADLINE_JWT_SECRET (HS256) or "
                "THREADLINE_JWKS_URL (RS256/ES256)"
            )
        self._secret = secret or None
        self._jwks = (
            JwksCache(
                jwks_url,
                client=http,
                max_age=jwks_max_age,
                min_refetch_interval=jwks_min_refetch_seconds,
            )
            if jwks_url
            else None
        )
        self._issuer = issuer or None
        self._audience = audience or None
        self._leeway = leeway
        self._clock = clock
        self._verified = VerifiedTokens(cache_size, leeway=leeway, clock=clock)

    @property
    def accepted_algorithms(self) -> tuple[str, ...]:
        return (("HS256",) if self._secret else ()) + (ASYMMETRIC_ALGORITHMS if self._jwks else ())

    async def verify(self, token: str) -> Principal:
        """The token's principal, or a :class:`TokenError` saying what is wrong and what to do."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        principal = await self._verify(token)
        self._verified.put(token, principal)
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"the bearer token is not a JWT: {exc}") from exc
        algorithm = header.get("alg")
        key = await self._key(algorithm, header.get("kid"))
        claims = self._decode(token, key, str(algorithm))
        subject = claims["sub"]
        if not subject:
            raise TokenError(_missing_claim("sub"))
        expires = claims["exp"]
        return Principal(
            subject=str(subject),
            scopes=parse_scopes(claims),
            expires_at=float(expires) if isinstance(expires, int | float) else None,
        )

    async def _key(self, algorithm: object, kid: object) -> Any:
        if algorithm == "HS256" and self._secret:
            return self._secret
        if algorithm in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            jwk = await self._jwks.key(kid if isinstance(kid, str) else None)
            if jwk.algorithm_name != algorithm:
                raise TokenError(
                    f"the token says {algorithm!r} but its key {kid!r} is a "
                    f"{jwk.algorithm_name} key; request a token from the configured issuer"
                )
            return jwk.key
        accepted = ", ".join(self.accepted_algorithms)
        raise TokenError(
            f"tokens signed with {algorithm!r} are not accepted here; accepted: {accepted} "
            "(HS256 needs THREADLINE_JWT_SECRET, RS256/ES256 need THREADLINE_JWKS_URL)"
        )

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_aud": self._audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the bearer token has expired; get a new one") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("the bearer token is not valid yet (nbf/iat in the future)") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(_missing_claim(exc.claim)) from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError(
                f"the bearer token was issued by someone else; expected issuer "
                f"{self._issuer!r} (THREADLINE_JWT_ISSUER)"
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError(
                f"the bearer token is not meant for this audience; expected 'aud' to include "
                f"{self._audience!r} (THREADLINE_JWT_AUDIENCE)"
            ) from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"the bearer token was rejected: {exc}") from exc
        return claims

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()


def _missing_claim(claim: str) -> str:
    if claim == "sub":
        return (
            "the bearer token has no 'sub' claim; every token must name its subject "
            "(for a machine client, its client id), so ask the issuer to set 'sub'"
        )
    return f"the bearer token has no {claim!r} claim; ask the issuer to set it"


def issue_token(
    secret: str,
    scopes: Iterable[str],
    *,
    subject: str = "local-user",
    issuer: str = "threadline",
    ttl_seconds: int = 24 * 3600,
) -> str:
    """A signed HS256 token for local use (``threadline token``)."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "scope": " ".join(sorted(set(scopes))),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
