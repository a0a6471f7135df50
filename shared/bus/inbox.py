"""MongoInbox: the processed-event ids of a service's consumers, in its own database.

One document per (consumer, event id), ``_id = "<consumer>:<event id>"``, kept in
weekly bucket collections named for the ISO week they were written in
(``inbox_2026w48``). A bucket has no secondary index: on SecantusDB every secondary
index roughly triples the cost of a document write, and the inbox is written twice per
event end to end. Retention therefore comes from dropping whole buckets rather than from
a TTL index: ``mark`` inserts into the current week's bucket, ``unseen`` looks in the
current and the previous week's, and housekeeping (lazily, at most once an hour, from
``mark``) drops every older bucket. An id is remembered for 7 to 14 days — redeliveries
arrive within minutes, replays of parked events within days.

``unseen`` is one ``_id $in`` lookup per bucket and ``mark`` one unordered
``insert_many`` per batch (an insert costs SecantusDB a third of an upsert; a duplicate
``_id`` just means the id was recorded before).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pymongo.errors import BulkWriteError, PyMongoError

from shared.errors import StorageError
from shared.mongo import AsyncDatabase, Document, Index, storage_errors

PREFIX = "inbox"
WEEK = timedelta(days=7)
HOUSEKEEPING_INTERVAL = timedelta(hours=1)
MIN_RETENTION = WEEK
"""An id marked at any moment is still seen at least this long afterwards (at most twice)."""
DUPLICATE_KEY = 11000

Clock = Callable[[], datetime]

log = logging.getLogger("threadline.bus")


def utc_now() -> datetime:
    return datetime.now(UTC)


def bucket_name(moment: datetime, prefix: str = PREFIX) -> str:
    """The bucket of ``moment``'s ISO week, e.g. ``inbox_2026w48``.

    The week is zero-padded so that names of one prefix sort in time order, which is
    what housekeeping relies on to tell older buckets from newer ones.
    """
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{prefix}_{year:04d}w{week:02d}"


def live_buckets(moment: datetime, prefix: str = PREFIX) -> tuple[str, str]:
    """The current and the previous week's bucket: the ones ``unseen`` reads."""
    return bucket_name(moment, prefix), bucket_name(moment - WEEK, prefix)


def expired_buckets(names: Sequence[str], moment: datetime, prefix: str = PREFIX) -> list[str]:
    """The buckets among ``names`` older than the previous week of ``moment``.

    Other collections and buckets of a later week (another process's clock running
    ahead) are left alone.
    """
    pattern = re.compile(rf"{re.escape(prefix)}_\d{{4}}w\d{{2}}")
    oldest_live = bucket_name(moment - WEEK, prefix)
    return sorted(name for name in names if pattern.fullmatch(name) and name < oldest_live)


class MongoInbox:
    """The :class:`shared.bus.ports.Inbox` port on MongoDB, in index-free weekly buckets.

    ``clock`` returns the current (timezone-aware) time; tests inject one to cross week
    boundaries.
    """

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        prefix: str = PREFIX,
        clock: Clock = utc_now,
    ) -> None:
        self._database = database
        self._prefix = prefix
        self._clock = clock
        self._housekept_at: datetime | None = None
        self._housekept_week = ""

    def indexes(self) -> list[Index]:
        """None: buckets are bounded by being dropped, not by a TTL index (see module)."""
        return []

    async def ensure_indexes(self) -> None:
        """Nothing to create; drops expired buckets so a restarted service starts tidy."""
        await self.housekeep()

    async def unseen(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        keys = {_key(consumer, event_id): event_id for event_id in event_ids}
        query = {"_id": {"$in": list(keys)}}
        async with storage_errors(f"reading the inbox of {consumer}"):
            found = await asyncio.gather(
                *(
                    self._database[name].find(query, {"_id": 1}).to_list()
                    for name in live_buckets(self._clock(), self._prefix)
                )
            )
        seen = {doc["_id"] for docs in found for doc in docs}
        return {event_id for key, event_id in keys.items() if key not in seen}

    async def mark(self, consumer: str, event_ids: Sequence[str]) -> None:
        if not event_ids:
            return
        now = self._clock()
        documents = [
            {"_id": _key(consumer, event_id), "processed_at": now}
            for event_id in dict.fromkeys(event_ids)
        ]
        try:
            await self._database[bucket_name(now, self._prefix)].insert_many(
                documents, ordered=False
            )
        except BulkWriteError as exc:
            # Marking twice (a redelivered batch) is harmless: the duplicates are refused
            # and every other id of the batch is recorded all the same (unordered).
            errors = exc.details.get("writeErrors", [])
            if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise StorageError(
                    f"recording processed events of {consumer} failed: {exc.details}"
                ) from exc
        except PyMongoError as exc:
            raise StorageError(f"recording processed events of {consumer} failed: {exc}") from exc
        if self._housekeeping_due(now):
            await self._housekeep_quietly()

    async def housekeep(self) -> list[str]:
        """Drop the buckets older than the previous week; returns the dropped names."""
        now = self._clock()
        self._housekept_at, self._housekept_week = now, bucket_name(now, self._prefix)
        async with storage_errors("dropping expired inbox buckets"):
            names = await self._database.list_collection_names()
            expired = expired_buckets(names, now, self._prefix)
            for name in expired:
                # Another replica may drop the same bucket first; dropping a missing
                # collection is a no-op.
                await self._database.drop_collection(name)
        return expired

    def _housekeeping_due(self, now: datetime) -> bool:
        return (
            self._housekept_at is None
            or now - self._housekept_at >= HOUSEKEEPING_INTERVAL
            or bucket_name(now, self._prefix) != self._housekept_week
        )

    async def _housekeep_quietly(self) -> None:
        # The marks are recorded already; failing the batch now would only redeliver it.
        # A stale bucket costs disk, not correctness, and the next attempt is due within
        # the hour.
        try:
            await self.housekeep()
        except StorageError as exc:
            log.warning("inbox housekeeping failed, retrying within the hour: %s", exc)


def _key(consumer: str, event_id: str) -> str:
    return f"{consumer}:{event_id}"
