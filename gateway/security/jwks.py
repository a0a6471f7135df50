"""A JSON Web Key Set fetched over HTTP, cached, and refetched when keys rotate.

Identity providers rotate signing keys by publishing the new key in the set
before signing with it, so a token with an unknown ``kid`` is the signal to
refetch. Refetches are rate-limited: a flood of tokens with made-up ``kid``s
must not become a flood of requests to the identity provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from gateway.security.errors import AuthenticationError


class JwksKeys:
    """The public keys of one JWKS URL, by ``kid``."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        max_age: float = 300.0,
        min_refetch_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client
        self._owns_client = client is None
        self._max_age = max_age
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._keys: dict[str | None, Any] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> Any:
        """The verification key for ``kid``; refetches the set when ``kid`` is unknown or stale."""
        if kid in self._keys and not self._stale():
            return self._keys[kid]
        async with self._lock:
            if (kid not in self._keys or self._stale()) and self._may_fetch():
                await self._fetch()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        try:
            return self._keys[kid]
        except KeyError:
            raise AuthenticationError(
                f"the token's signing key {kid!r} is not in the key set at {self.url}; "
                "request a token from the configured issuer"
            ) from None

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._max_age

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None or self._clock() - self._attempted_at >= self._min_interval
        )

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        self.fetches += 1
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if self._keys:
                return  # keep serving the keys we have; the provider may be briefly down
            raise AuthenticationError(
                f"cannot verify tokens: fetching the key set from {self.url} failed ({exc})"
            ) from exc
        keys: dict[str | None, Any] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry).key
            except jwt.PyJWTError:
                continue  # an algorithm we do not verify with; other keys still count
        self._keys = keys
        self._fetched_at = self._clock()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
