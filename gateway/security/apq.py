"""Automatic persisted queries, as Apollo clients speak them.

A client first sends only ``extensions.persistedQuery = {version: 1, sha256Hash}``;
on ``PersistedQueryNotFound`` it resends with the query text, which we store
(once it has validated) so later requests can omit it. The store is an LRU of
bounded size per gateway process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.security.errors import PersistedQueryError

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"


@dataclass(frozen=True, slots=True)
class Resolved:
    query: str
    register: str | None = None
    """The hash to store ``query`` under once it validates; None when already stored."""


class PersistedQueries:
    """An LRU from SHA-256 hex digests to query text."""

    def __init__(self, capacity: int, *, enabled: bool = True) -> None:
        self.capacity = capacity
        self.enabled = enabled
        self._store: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._store)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> Resolved | None:
        """The query a request runs; None when it carries neither a query nor an APQ hash."""
        persisted = extensions.get("persistedQuery") if extensions else None
        if persisted is None:
            return Resolved(query) if query is not None else None
        if not self.enabled:
            raise PersistedQueryError("PersistedQueryNotSupported", code=NOT_SUPPORTED, status=400)
        if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
            raise PersistedQueryError(
                "extensions.persistedQuery must be {version: 1, sha256Hash: <hex>}; "
                "only version 1 is supported",
                code="PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise PersistedQueryError(
                "extensions.persistedQuery.sha256Hash must be the 64-character hex SHA-256 "
                "of the query text",
                code="BAD_REQUEST",
            )
        digest = digest.lower()
        if query is None:
            stored = self._store.get(digest)
            if stored is None:
                # The exact message matters: Apollo Client matches on it to resend the query.
                raise PersistedQueryError("PersistedQueryNotFound", code=NOT_FOUND, status=200)
            self._store.move_to_end(digest)
            return Resolved(stored)
        actual = hashlib.sha256(query.encode()).hexdigest()
        if actual != digest:
            raise PersistedQueryError(
                f"provided sha does not match query: the query hashes to {actual}, "
                f"the request says {digest}",
                code="PERSISTED_QUERY_HASH_MISMATCH",
            )
        if digest in self._store:
            self._store.move_to_end(digest)
            return Resolved(query)
        return Resolved(query, register=digest)

    def register(self, digest: str, query: str) -> None:
        self._store[digest] = query
        self._store.move_to_end(digest)
        while len(self._store) > self.capacity:
            self._store.popitem(last=False)
