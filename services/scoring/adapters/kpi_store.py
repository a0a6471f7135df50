"""The KPI store on MongoDB: facts per event, contributions per customer and order, day buckets.

Collections (database ``threadline_scoring``):

- ``scoring_facts``: one document per resolved event (``_id`` = event id), the
  KPI facts it carries, filed under its current customer (``customerId``,
  re-keyed by merges and splits). An event stored twice is one document.
- ``kpi_contributors``: per customer (``c:<id>``) and per order (``o:<id>``)
  the contribution it has added to the buckets, with a ``version``.
- ``kpi_buckets``: per UTC day and scope the sum of the contributions
  (``kpi_buckets.py`` names the fields), ``_id`` ``<YYYY-MM-DD>|<scope>``.
- ``customer_aliases`` (merged id → survivor) and ``erased_customers``.

Replacing contributions is exactly-once without transactions: the new
contribution and the difference to add are first written on the contributor
(conditional on the version read, tagged with a change id); then each bucket
(day, and its month's rollup in ``kpi_months``) gets the change's summed
difference in one update that also records the change id in ``applied`` (an
update whose change id the bucket already holds collides on ``_id`` and
changes nothing); then the change is marked done in ``kpi_changes`` and its
id pulled from the buckets again, so ``applied`` holds only changes in
flight. A contributor tagged with a change not marked done (a crash in
between) is finished by the next reader of any of its contributors, before
it is changed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import DeleteMany, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError

from services.scoring.adapters.ports import Contributor, StaleContributionError
from services.scoring.domain.kpi_buckets import (
    Contribution,
    Fact,
    Fields,
    Number,
    combine,
    day_number,
    difference,
    month_rollup,
    parse_bucket_id,
    parse_month_id,
)
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore, TicketUpdate
from shared.events import utcnow
from shared.mongo import (
    WHOLE_BATCH,
    AsyncCollection,
    AsyncDatabase,
    Document,
    DuplicateKeyError,
    Index,
    ascending,
    only_duplicates,
    storage_errors,
)

FACTS = "scoring_facts"
CONTRIBUTORS = "kpi_contributors"
BUCKETS = "kpi_buckets"
MONTHS = "kpi_months"
CHANGES = "kpi_changes"
ALIASES = "customer_aliases"
MEMBERS = "segment_members"
ERASED = "erased_customers"

INDEXES: tuple[Index, ...] = (
    Index(FACTS, ascending("customerId")),
    Index(FACTS, ascending("orderId"), name="orderId_1_sparse"),
    Index(FACTS, ascending("ingestId")),
    Index(BUCKETS, ascending("scope", "day")),
    Index(MONTHS, ascending("scope", "day")),
    Index(CONTRIBUTORS, ascending("pending")),
    Index(ALIASES, ascending("survivor")),
    Index(MEMBERS, ascending("customerId")),
)


class MongoKpiStore:
    """Facts, contributions and day buckets of the KPIs."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._facts = database[FACTS]
        self._contributors = database[CONTRIBUTORS]
        self._buckets = database[BUCKETS]
        self._changes = database[CHANGES]
        self._months = database[MONTHS]
        self._aliases = database[ALIASES]
        self._erased = database[ERASED]
        self._members = database[MEMBERS]

    # --- identities -------------------------------------------------------------------

    async def survivors(self, ids: Iterable[str]) -> dict[str, str]:
        """Each merged-away id among ``ids`` → the customer it lives on in."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        async with storage_errors("reading customer aliases"):
            cursor = self._aliases.find({"_id": {"$in": wanted}}, batch_size=WHOLE_BATCH)
            return {str(doc["_id"]): str(doc["survivor"]) async for doc in cursor}

    async def erased(self, ids: Iterable[str]) -> set[str]:
        wanted = list(set(ids))
        if not wanted:
            return set()
        async with storage_errors("reading erased customers"):
            cursor = self._erased.find({"_id": {"$in": wanted}}, {"_id": 1})
            return {str(doc["_id"]) async for doc in cursor}

    async def record_merge(self, merged: Sequence[str], survivor: str) -> None:
        """Alias every merged id (and ids merged into them before) to ``survivor``."""
        ids = [m for m in merged if m != survivor]
        if not ids:
            return
        async with storage_errors("recording a merge"):
            await self._aliases.bulk_write(
                [
                    *(
                        UpdateOne({"_id": m}, {"$set": {"survivor": survivor}}, upsert=True)
                        for m in ids
                    ),
                    UpdateMany({"survivor": {"$in": ids}}, {"$set": {"survivor": survivor}}),
                    DeleteMany({"_id": survivor}),
                ],
                ordered=True,
            )

    async def forget_alias(self, customer_id: str) -> None:
        async with storage_errors("removing a customer alias"):
            await self._aliases.delete_one({"_id": customer_id})

    async def record_erased(self, ids: Sequence[str]) -> None:
        async with storage_errors("recording erased customers"):
            await self._erased.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"_id": i}}, upsert=True) for i in ids],
                ordered=False,
            )

    async def record_membership(
        self, segment_id: str, customer_id: str, inside: bool, at: datetime
    ) -> bool:
        """Record entering or leaving a segment unless a later change is stored already."""
        async with storage_errors("recording a segment membership"):
            try:
                await self._members.update_one(
                    {"_id": f"{segment_id}|{customer_id}", "at": {"$lt": at}},
                    {
                        "$set": {
                            "segmentId": segment_id,
                            "customerId": customer_id,
                            "inside": inside,
                            "at": at,
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:
                return False  # a later entered/exited is stored: this one is stale
        return True

    async def segments_of(self, customer_ids: Iterable[str]) -> dict[str, set[str]]:
        wanted = list(set(customer_ids))
        found: dict[str, set[str]] = {}
        if not wanted:
            return found
        async with storage_errors("reading segment memberships"):
            cursor = self._members.find(
                {"customerId": {"$in": wanted}, "inside": True}, batch_size=WHOLE_BATCH
            )
            async for doc in cursor:
                found.setdefault(str(doc["customerId"]), set()).add(str(doc["segmentId"]))
        return found

    # --- facts ------------------------------------------------------------------------

    async def add_facts(self, facts: Sequence[Fact]) -> None:
        """Store facts under their event's ``customer_id``; a stored event id is left as is."""
        if not facts:
            return
        async with storage_errors("storing KPI facts"):
            try:
                await self._facts.insert_many([fact_document(f) for f in facts], ordered=False)
            except BulkWriteError as exc:
                if not only_duplicates(exc):
                    raise

    async def move_customers(self, sources: Sequence[str], target: str) -> None:
        async with storage_errors("re-keying KPI facts"):
            await self._facts.update_many(
                {"customerId": {"$in": list(sources)}}, {"$set": {"customerId": target}}
            )

    async def move_ingests(self, ingest_ids: Sequence[str], target: str) -> None:
        async with storage_errors("moving split KPI facts"):
            await self._facts.update_many(
                {"ingestId": {"$in": list(ingest_ids)}}, {"$set": {"customerId": target}}
            )

    async def delete_customers(self, ids: Sequence[str]) -> set[str]:
        """Delete every fact of those customers; returns the order ids they touched."""
        async with storage_errors("erasing KPI facts"):
            cursor = self._facts.find(
                {"customerId": {"$in": list(ids)}, "orderId": {"$exists": True}}, {"orderId": 1}
            )
            orders = {str(doc["orderId"]) async for doc in cursor}
            await self._facts.delete_many({"customerId": {"$in": list(ids)}})
        return orders

    async def customer_facts(self, ids: Iterable[str]) -> dict[str, list[Fact]]:
        found: dict[str, list[Fact]] = {i: [] for i in ids}
        if not found:
            return found
        async with storage_errors("reading KPI facts"):
            cursor = self._facts.find({"customerId": {"$in": list(found)}}, batch_size=WHOLE_BATCH)
            async for doc in cursor:
                found[str(doc["customerId"])].append(fact_from_document(doc))
        return found

    async def order_facts(self, order_ids: Iterable[str]) -> dict[str, list[KpiEvent]]:
        found: dict[str, list[KpiEvent]] = {i: [] for i in order_ids}
        if not found:
            return found
        async with storage_errors("reading order facts"):
            cursor = self._facts.find({"orderId": {"$in": list(found)}}, batch_size=WHOLE_BATCH)
            async for doc in cursor:
                found[str(doc["orderId"])].append(fact_from_document(doc).event)
        return found

    async def purchases(self, until: datetime) -> list[KpiEvent]:
        """Every order fact up to ``until`` (the CLV fit's input), by customer."""
        async with storage_errors("reading purchase histories"):
            cursor = self._facts.find(
                {"orderId": {"$exists": True}, "at": {"$lte": until}}, batch_size=WHOLE_BATCH
            )
            return [fact_from_document(doc).event async for doc in cursor]

    async def facts_between(self, start: datetime, end: datetime) -> list[Fact]:
        async with storage_errors("reading KPI facts of a period"):
            cursor = self._facts.find({"at": {"$gte": start, "$lt": end}}, batch_size=WHOLE_BATCH)
            return [fact_from_document(doc) async for doc in cursor]

    # --- contributions ----------------------------------------------------------------

    async def contributors(self, keys: Iterable[str]) -> dict[str, Contributor]:
        """The stored contributions (version 0 and empty when none), unfinished changes finished."""
        wanted = list(set(keys))
        async with storage_errors("reading KPI contributions"):
            docs = [
                doc
                async for doc in self._contributors.find(
                    {"_id": {"$in": wanted}}, {"delta": 0}, batch_size=WHOLE_BATCH
                )
            ]
        tagged = {str(doc["pending"]) for doc in docs if doc.get("pending")}
        for change in tagged - await self._done(tagged):
            await self._recover(change)
        found = {
            str(doc["_id"]): Contributor(
                str(doc["_id"]), int(doc["version"]), decode(doc.get("contribution") or [])
            )
            for doc in docs
        }
        return {key: found.get(key) or Contributor(key, 0, {}) for key in wanted}

    async def replace(self, changes: Sequence[tuple[Contributor, Contribution]]) -> None:
        """Replace each contributor's contribution, adding the differences to the buckets once.

        Raises :class:`StaleContributionError` (after applying the others) when a
        contributor changed since it was read.
        """
        change = uuid.uuid4().hex
        operations = []
        deltas = []
        for old, new in changes:
            delta = difference(old.contribution, new)
            if not delta:
                continue
            deltas.append(delta)
            operations.append(
                UpdateOne(
                    {"_id": old.key, "version": old.version},
                    {
                        "$set": {
                            "version": old.version + 1,
                            "contribution": encode(new),
                            "pending": change,
                            "delta": encode(delta),
                        }
                    },
                    upsert=True,
                )
            )
        if not operations:
            return
        failed: set[int] = set()
        async with storage_errors("saving KPI contributions"):
            try:
                await self._contributors.bulk_write(operations, ordered=False)
            except BulkWriteError as exc:
                # A duplicate _id: the version filter missed, someone else wrote first.
                if not only_duplicates(exc):
                    raise
                failed = {int(e["index"]) for e in exc.details.get("writeErrors", [])}
        await self._complete(change, combine(d for i, d in enumerate(deltas) if i not in failed))
        if failed:
            raise StaleContributionError(
                f"{len(failed)} KPI contribution(s) changed while this batch was computed; retry it"
            )

    async def _done(self, changes: set[str]) -> set[str]:
        if not changes:
            return set()
        async with storage_errors("reading finished KPI changes"):
            cursor = self._changes.find({"_id": {"$in": sorted(changes)}}, {"_id": 1})
            return {str(doc["_id"]) async for doc in cursor}

    async def _recover(self, change: str) -> None:
        """Finish a change a crash left between its contributors and its buckets."""
        async with storage_errors("reading an unfinished KPI change"):
            cursor = self._contributors.find({"pending": change}, {"delta": 1})
            deltas = [decode(doc.get("delta") or []) async for doc in cursor]
        await self._complete(change, combine(deltas))

    async def _complete(self, change: str, total: Contribution) -> None:
        months = month_rollup(total)
        async with storage_errors("applying KPI contributions to day buckets"):
            if total:
                await self._apply(self._buckets, change, total, parse_bucket_id)
                await self._apply(self._months, change, months, parse_month_id)
            await self._changes.update_one({"_id": change}, {"$set": {"at": utcnow()}}, upsert=True)
            # Done: the buckets need not remember it any more (a crash before this line
            # leaves an id behind, which only costs its bytes).
            for collection, ids in ((self._buckets, total), (self._months, months)):
                if ids:
                    await collection.update_many(
                        {"_id": {"$in": list(ids)}}, {"$pull": {"applied": change}}
                    )

    async def _apply(
        self,
        collection: AsyncCollection[Document],
        change: str,
        total: Contribution,
        parse: Callable[[str], tuple[int, str]],
    ) -> None:
        operations = []
        for bucket, fields in total.items():
            day, scope = parse(bucket)
            operations.append(
                UpdateOne(
                    {"_id": bucket, "applied": {"$ne": change}},
                    {
                        "$inc": {f"f.{name}": _stored(value) for name, value in fields.items()},
                        "$push": {"applied": change},
                        "$setOnInsert": {"day": day, "scope": scope},
                    },
                    upsert=True,
                )
            )
        try:
            await collection.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            if not only_duplicates(exc):  # a duplicate: that bucket already has this change
                raise

    async def months(
        self, scopes: Sequence[str], firsts: Sequence[int]
    ) -> dict[str, dict[int, Fields]]:
        """Scope → first day of the month → the month's summed fields."""
        if not firsts:
            return {}
        return await self._read(
            self._months,
            {"scope": {"$in": list(scopes)}, "day": {"$in": list(firsts)}},
            "reading KPI month buckets",
        )

    async def days(
        self, scopes: Sequence[str], numbers: Sequence[int]
    ) -> dict[str, dict[int, Fields]]:
        """Scope → day → flattened fields of the day buckets of the days listed."""
        if not numbers:
            return {}
        return await self._read(
            self._buckets,
            {"scope": {"$in": list(scopes)}, "day": {"$in": list(numbers)}},
            "reading KPI buckets",
        )

    async def buckets(
        self, scopes: Sequence[str] | None, first: int, end: int
    ) -> dict[str, dict[int, Fields]]:
        """Scope → day → flattened fields of the buckets of days ``[first, end)``."""
        query: dict[str, Any] = {"day": {"$gte": first, "$lt": end}}
        if scopes is not None:
            query["scope"] = {"$in": list(scopes)}
        return await self._read(self._buckets, query, "reading KPI buckets")

    async def _read(
        self, collection: AsyncCollection[Document], query: Mapping[str, Any], what: str
    ) -> dict[str, dict[int, Fields]]:
        out: dict[str, dict[int, Fields]] = {}
        async with storage_errors(what):
            cursor = collection.find(query, {"applied": 0}, batch_size=WHOLE_BATCH)
            async for doc in cursor:
                fields: Fields = {}
                _flatten(doc.get("f") or {}, "", fields)
                out.setdefault(str(doc["scope"]), {})[int(doc["day"])] = fields
        return out

    async def scopes(self) -> list[str]:
        async with storage_errors("reading KPI scopes"):
            return sorted(str(s) for s in await self._buckets.distinct("scope"))


def _flatten(node: Mapping[str, Any], prefix: str, out: Fields) -> None:
    # A month rollup holds thousands of counts: exact type checks first (the decoder
    # gives plain ints and dicts), the general ones only for what is left.
    for name, value in node.items():
        kind = type(value)
        if kind is int:
            out[prefix + name] = value
        elif kind is dict or isinstance(value, Mapping):
            _flatten(value, f"{prefix}{name}.", out)
        else:
            out[prefix + name] = _number(value)


def _number(value: Any) -> Number:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, float):
        return Decimal(str(value))
    return int(value)


def _stored(value: Number) -> Any:
    return Decimal128(value) if isinstance(value, Decimal) else value


def encode(contribution: Contribution) -> list[list[Any]]:
    return [
        [bucket, name, _stored(value)]
        for bucket, fields in contribution.items()
        for name, value in fields.items()
    ]


def decode(rows: Iterable[Sequence[Any]]) -> Contribution:
    out: Contribution = {}
    for bucket, name, value in rows:
        out.setdefault(str(bucket), {})[str(name)] = _number(value)
    return out


def fact_document(fact: Fact) -> Document:
    event = fact.event
    doc: Document = {
        "_id": event.id,
        "customerId": event.customer_id,
        "at": event.at,
        "day": day_number(event.at),
        "channel": event.channel,
        "identified": fact.identified,
    }
    if fact.ingest_id:
        doc["ingestId"] = fact.ingest_id
    if event.order is not None:
        doc["orderId"] = event.order.order_id
        doc["amount"] = Decimal128(event.order.amount)
        doc["currency"] = event.order.currency
    if event.survey is not None:
        doc["survey"] = event.survey.survey
        doc["score"] = event.survey.score
    if event.ticket is not None:
        doc["ticketId"] = event.ticket.ticket_id
        doc["step"] = event.ticket.step
    return doc


def fact_from_document(doc: Mapping[str, Any]) -> Fact:
    order = survey = ticket = None
    if "orderId" in doc:
        amount = doc.get("amount")
        order = Order(
            str(doc["orderId"]),
            amount.to_decimal() if isinstance(amount, Decimal128) else Decimal(0),
            str(doc.get("currency") or ""),
        )
    if "survey" in doc:
        survey = SurveyScore(doc["survey"], int(doc["score"]))
    if "ticketId" in doc:
        ticket = TicketUpdate(str(doc["ticketId"]), doc["step"])
    event = KpiEvent(
        id=str(doc["_id"]),
        customer_id=str(doc["customerId"]),
        channel=str(doc["channel"]),
        at=doc["at"],
        order=order,
        survey=survey,
        ticket=ticket,
    )
    return Fact(event, bool(doc.get("identified")), doc.get("ingestId"))
