"""Bearer JWT verification: HS256 with a shared secret, or RS256 against a JWKS."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from gateway.security.errors import AuthenticationError
from gateway.security.jwks import JwksKeys
from gateway.settings import GatewaySettings

_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str | None
    scopes: frozenset[str]
    expires_at: float | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class Authenticator:
    """Verifies ``Authorization: Bearer …`` headers.

    Verified tokens are remembered (bounded, until they expire) so a client
    sending the same token on every request pays for one signature check.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._secret = settings.jwt_secret
        self._jwks = (
            JwksKeys(
                settings.jwks_url,
                client=http_client,
                max_age=settings.jwks_cache_seconds,
                min_refetch_interval=settings.jwks_min_refetch_seconds,
            )
            if settings.jwks_url
            else None
        )
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    @property
    def configured(self) -> bool:
        return self._secret is not None or self._jwks is not None

    @property
    def required(self) -> bool:
        return self._settings.auth_required

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal of the header's token; None when absent and auth is optional."""
        if not authorization:
            if self.required:
                raise AuthenticationError(
                    "this gateway requires a bearer token: send 'Authorization: Bearer <JWT>'",
                    error="invalid_request",
                )
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError(
                "the Authorization header must be 'Bearer <JWT>'", error="invalid_request"
            )
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at is None or cached.expires_at + self._leeway > self._clock():
                return cached
            del self._verified[token]
        principal = await self._verify(token)
        self._verified[token] = principal
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    @property
    def _leeway(self) -> float:
        return self._settings.jwt_leeway_seconds

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the bearer token is not a JWT: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._secret is not None:
            key: Any = self._secret
        elif algorithm == "RS256" and self._jwks is not None:
            key = await self._jwks.key(header.get("kid"))
        else:
            accepted = [
                name
                for name, on in (("HS256", self._secret), ("RS256", self._jwks))
                if on is not None
            ]
            raise AuthenticationError(
                f"tokens signed with {algorithm!r} are not accepted here; "
                f"accepted: {', '.join(accepted) or 'none (no secret or JWKS configured)'}"
            )
        settings = self._settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=settings.jwt_issuer or None,
                audience=settings.jwt_audience,
                leeway=settings.jwt_leeway_seconds,
                options={
                    "require": ["exp"] if settings.jwt_require_exp else [],
                    "verify_aud": settings.jwt_audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the bearer token has expired; get a new one") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthenticationError("the bearer token is not valid yet (nbf/iat)") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError(
                f"the bearer token was issued by someone else; expected issuer "
                f"{settings.jwt_issuer!r}"
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError(
                f"the bearer token is not meant for this gateway; expected audience "
                f"{settings.jwt_audience!r}"
            ) from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the bearer token was rejected: {exc}") from exc
        scope = claims.get("scope", "")
        if isinstance(scope, list):
            scopes = frozenset(str(item) for item in scope)
        else:
            scopes = frozenset(str(scope).split())
        subject = claims.get("sub")
        expires = claims.get("exp")
        return Principal(
            subject=str(subject) if subject is not None else None,
            scopes=scopes,
            expires_at=float(expires) if isinstance(expires, int | float) else None,
            claims=claims,
        )

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()
