"""The MongoDB adapter: the one module that imports pymongo (besides services' own adapters).

Wraps PyMongo's asyncio API (``AsyncMongoClient``), declares indexes per
service idempotently, and translates driver errors into :class:`StorageError`.

Writes are acknowledged only once journaled on a majority (``w: "majority", j: true``)
unless the caller asks for less: consumers ack the broker after their writes, so an
acknowledged write that a database crash can still lose is a lost event. (SecantusDB,
the embedded default, keeps un-journaled commits in WiredTiger's log buffer, where a
``kill -9`` loses the last few hundred milliseconds of them.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from shared.errors import StorageError

Document = dict[str, Any]
WriteConcernW = int | str
DUPLICATE_KEY = 11000
WHOLE_BATCH = 100_000
"""``batchSize`` of reads wanted whole: the first reply carries up to 16 MB of documents
instead of stopping at 101, so a batch read is one round trip, not one plus getMores."""


@dataclass(frozen=True, slots=True)
class Index:
    """An index a service needs: ``keys`` as (field, direction) pairs."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    name: str | None = None
    expire_after_seconds: int | None = None
    partial: dict[str, Any] | None = field(default=None, hash=False)

    def model(self) -> IndexModel:
        options: dict[str, Any] = {"unique": self.unique}
        if self.name:
            options["name"] = self.name
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        if self.partial is not None:
            options["partialFilterExpression"] = self.partial
        return IndexModel(list(self.keys), **options)


def ascending(*fields: str) -> tuple[tuple[str, int], ...]:
    return tuple((name, ASCENDING) for name in fields)


class Mongo:
    """One client for the process; each service uses only its own database."""

    def __init__(
        self,
        url: str,
        *,
        app_name: str = "threadline",
        w: WriteConcernW = "majority",
        journal: bool = True,
    ) -> None:
        """``w`` and ``journal`` are the write concern of every write (they override
        ``w`` / ``journal`` options in ``url``)."""
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            appname=app_name,
            tz_aware=True,
            connect=False,
            serverSelectionTimeoutMS=5000,
            w=w,
            journal=journal,
        )

    @property
    def client(self) -> AsyncMongoClient[Document]:
        return self._client

    def database(self, name: str) -> AsyncDatabase[Document]:
        return self._client[name]

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise StorageError(f"MongoDB is unreachable: {exc}") from exc

    async def ensure_indexes(self, database: str, indexes: Sequence[Index]) -> None:
        """Create missing indexes; re-running with the same definitions is a no-op."""
        by_collection: dict[str, list[IndexModel]] = {}
        for index in indexes:
            by_collection.setdefault(index.collection, []).append(index.model())
        db = self.database(database)
        try:
            for collection, models in by_collection.items():
                await db[collection].create_indexes(models)
        except PyMongoError as exc:
            raise StorageError(f"creating indexes in {database} failed: {exc}") from exc

    async def close(self) -> None:
        await self._client.close()


@asynccontextmanager
async def storage_errors(what: str) -> AsyncIterator[None]:
    """Translate driver errors raised inside the block into :class:`StorageError`."""
    try:
        yield
    except DuplicateKeyError:
        raise
    except BulkWriteError as exc:
        raise StorageError(f"{what} failed: {_bulk_summary(exc)}") from exc
    except PyMongoError as exc:
        raise StorageError(f"{what} failed: {exc}") from exc


def _bulk_summary(exc: BulkWriteError) -> str:
    # Not str(exc): it quotes every failed document, personal data included, and this
    # message is logged and kept with parked messages.
    errors = exc.details.get("writeErrors") or []
    if not errors:
        concern = (exc.details.get("writeConcernErrors") or [{}])[0]
        return f"write concern error: {concern.get('errmsg', 'unknown')}"
    first = errors[0]
    summary = (
        f"{len(errors)} write error(s): code {first.get('code')} at index "
        f"{first.get('index')}: {first.get('errmsg')}"
    )
    return summary + (f"; and {len(errors) - 1} more" if len(errors) > 1 else "")


def only_duplicates(exc: BulkWriteError) -> bool:
    """Whether a bulk write failed only because some of its inserts were stored before.

    A write-concern error (the write is not known to be durable) is never such a case,
    even when every write itself succeeded.
    """
    details = exc.details
    if details.get("writeConcernErrors"):
        return False
    return all(error.get("code") == DUPLICATE_KEY for error in details.get("writeErrors", []))


T = TypeVar("T")


async def by_customer(
    collection: AsyncCollection[Document],
    customer_ids: Sequence[str],
    convert: Callable[[Document], T],
    what: str,
    *,
    sort: list[tuple[str, int]] | None = None,
) -> dict[str, list[T]]:
    """Each customer's documents of ``collection`` in one read, keyed by ``customerId``.

    The batch read behind the services' DataLoaders: every asked id is a key (an
    empty list when it has no documents), in ``sort`` order within each customer.
    """
    found: dict[str, list[T]] = {cid: [] for cid in customer_ids}
    if not found:
        return found
    async with storage_errors(what):
        cursor = collection.find({"customerId": {"$in": list(found)}}, batch_size=WHOLE_BATCH)
        if sort:
            cursor = cursor.sort(sort)
        async for doc in cursor:
            found[str(doc["customerId"])].append(convert(doc))
    return found


__all__ = [
    "DUPLICATE_KEY",
    "WHOLE_BATCH",
    "AsyncCollection",
    "AsyncDatabase",
    "BulkWriteError",
    "Document",
    "DuplicateKeyError",
    "Index",
    "Mongo",
    "WriteConcernW",
    "ascending",
    "by_customer",
    "only_duplicates",
    "storage_errors",
]
