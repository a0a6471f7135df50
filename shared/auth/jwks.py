"""A JSON Web Key Set fetched over HTTP, cached, and refetched when keys rotate.

Identity providers rotate signing keys by publishing the new key in the set
before signing with it, so a token with an unknown ``kid`` (or a set older than
``max_age``) is the signal to refetch. Refetches are bounded: at most one per
``min_refetch_interval``, so a flood of tokens with made-up ``kid``s cannot
become a flood of requests to the identity provider. While the provider is
down, the keys already fetched keep working.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import jwt

from shared.auth.errors import KeySetUnavailableError, TokenError

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
"""What a JWKS key may verify; keys for anything else in the set are ignored."""


class JwksCache:
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
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key for ``kid``; refetches the set when ``kid`` is unknown or the set is stale.

        A token without ``kid`` is accepted only while the set holds exactly one key.
        """
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
            raise TokenError(
                f"the token's signing key {kid!r} is not in the key set at {self.url}; "
                "request a token from the configured issuer (THREADLINE_JWKS_URL)"
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
            raise KeySetUnavailableError(
                f"cannot verify tokens: fetching the key set from {self.url} failed ({exc}); "
                "check THREADLINE_JWKS_URL and that the identity provider is reachable"
            ) from exc
        self._keys = _signing_keys(document)
        self._fetched_at = self._clock()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()


def _signing_keys(document: object) -> dict[str | None, jwt.PyJWK]:
    entries = document.get("keys", []) if isinstance(document, dict) else []
    keys: dict[str | None, jwt.PyJWK] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # an algorithm we do not verify with; other keys still count
        if key.algorithm_name in ASYMMETRIC_ALGORITHMS:
            keys[entry.get("kid")] = key
    return keys
