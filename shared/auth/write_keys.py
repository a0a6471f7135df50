"""The collection API's write keys (``THREADLINE_WRITE_KEYS``), compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


class WriteKeys:
    """The configured collection write keys."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(key.encode() for key in keys if key)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def valid(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        encoded = candidate.encode()
        return any(hmac.compare_digest(encoded, key) for key in self._keys)
