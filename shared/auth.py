"""Credentials: bearer JWTs with scopes (HS256 secret or RS256 via JWKS) and write keys.

The gateway verifies tokens and forwards them; every service verifies them
again itself, so a subgraph reached directly is no softer than the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from shared.errors import AuthError

SCOPES = ("customers:read", "pii:read", "events:write", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling and what they may do."""

    subject: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise AuthError(f"this operation needs the scope {scope!r}", status=403)


ANONYMOUS = Principal(subject="anonymous", scopes=frozenset())


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


class TokenVerifier:
    """Verifies bearer tokens; with a JWKS URL it refetches keys when it meets a new ``kid``.

    Refetching is rate-limited so a flood of tokens with unknown key ids cannot
    turn into a flood of requests to the identity provider.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        http: httpx.AsyncClient | None = None,
        min_refresh_seconds: float = 30.0,
    ) -> None:
        if not secret and not jwks_url:
            raise AuthError(
                "no token verification configured: set THREADLINE_JWT_SECRET or "
                "THREADLINE_JWKS_URL",
                status=500,
            )
        self._secret = secret
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._http = http
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed bearer token: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._secret:
            key: Any = self._secret
        elif algorithm in {"RS256", "ES256"} and self._jwks_url:
            key = await self._key_for(str(header.get("kid", "")))
        else:
            raise AuthError(f"token algorithm {algorithm!r} is not accepted here")
        options: jwt.types.Options = {
            "require": ["exp", "sub"],
            "verify_aud": self._audience is not None,
        }
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options=options,
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("bearer token has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"bearer token rejected: {exc}") from exc
        return Principal(subject=str(claims["sub"]), scopes=parse_scopes(claims))

    async def _key_for(self, kid: str) -> Any:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                await self._refresh()
        if kid not in self._keys:
            raise AuthError(f"bearer token signed with unknown key id {kid!r}")
        return self._keys[kid]

    async def _refresh(self) -> None:
        assert self._jwks_url is not None
        client = self._http or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.get(self._jwks_url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthError(
                f"could not fetch signing keys from the JWKS URL: {exc}", status=503
            ) from exc
        finally:
            if self._http is None:
                await client.aclose()
        self._fetched_at = time.monotonic()
        keys: dict[str, Any] = {}
        for entry in document.get("keys", []):
            try:
                keys[str(entry.get("kid", ""))] = jwt.PyJWK(entry).key
            except jwt.PyJWTError:
                continue
        self._keys = keys


def parse_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(item) for item in raw)
    return frozenset()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def basic_user(authorization: str | None) -> str | None:
    """The user part of an HTTP Basic header, which is where Segment SDKs put the write key."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


class WriteKeys:
    """The configured collection write keys, compared in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(key.encode() for key in keys if key)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def valid(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        encoded = candidate.encode()
        return any(hmac.compare_digest(encoded, key) for key in self._keys)
