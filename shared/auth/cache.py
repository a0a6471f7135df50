"""Verified tokens remembered so a client repeating its token pays for one signature check."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from shared.auth.principal import Principal


class VerifiedTokens:
    """A bounded map of token → principal, least recently used first out.

    An entry is served only while the token would still verify: until its
    ``exp`` plus the verifier's leeway. It also means a token stays accepted
    until then even if its signing key is retired from the JWKS meanwhile.
    """

    def __init__(self, size: int, *, leeway: float, clock: Callable[[], float]) -> None:
        self._size = size
        self._leeway = leeway
        self._clock = clock
        self._entries: OrderedDict[str, Principal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        principal = self._entries.get(token)
        if principal is None:
            return None
        expires_at = principal.expires_at
        if expires_at is not None and expires_at + self._leeway <= self._clock():
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if self._size <= 0:
            return
        self._entries[token] = principal
        self._entries.move_to_end(token)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
