"""Data hygiene on MongoDB: collections ``hygiene_schedule`` and ``hygiene_findings``.

One schedule document is the lease (``holder``, ``leaseUntil``) and the clock
(``nextRunAt``) every profile process shares, so a run happens once per
interval however many processes run the schedule, and a run whose process died
is taken over once its lease expires. It also names the current report
(``current``), switched in one write once a run's findings are stored: readers
never see half a run. Findings are keyed ``<run>:<kind>:<sequence>``, so a page
of one kind is a range of ``_id`` (no secondary index). A finding an operator
resolved is marked (``resolvedAt``) and its :attr:`Finding.key` kept in
``hygiene_resolved``, so later runs do not list it again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError

from services.profile.adapters.hygiene_ports import (
    FindingResolution,
    HygieneCursorError,
    HygienePage,
    HygieneRun,
    StoredFinding,
)
from services.profile.adapters.mongo import unescape_key
from services.profile.domain import ProfileError
from services.profile.domain.hygiene import (
    KINDS,
    CustomerFacts,
    EventTimes,
    Finding,
    FindingKind,
)
from services.profile.domain.identity import ANONYMOUS_ID
from shared.events import derived_id, parse_time
from shared.mongo import (
    WHOLE_BATCH,
    AsyncDatabase,
    Document,
    DuplicateKeyError,
    only_duplicates,
    storage_errors,
)

SCHEDULE = "hygiene_schedule"
FINDINGS = "hygiene_findings"
RESOLVED = "hygiene_resolved"
SCHEDULE_ID = "reconciliation"


class MongoHygieneStore:
    """The :class:`~services.profile.adapters.hygiene_ports.HygieneStore` port on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._schedule = database[SCHEDULE]
        self._findings = database[FINDINGS]
        self._resolved = database[RESOLVED]
        self._customers = database["customers"]
        self._identities = database["identities"]
        self._events = database["events"]

    async def claim(self, holder: str, now: datetime, lease: timedelta) -> str | None:
        run_id = derived_id("hygiene-run", f"{holder}:{now.isoformat()}")
        due = {"_id": SCHEDULE_ID, "leaseUntil": {"$lte": now}, "nextRunAt": {"$lte": now}}
        # ``nextRunAt: now`` keeps the run due until it is published: a holder that dies
        # leaves it claimable once the lease expires.
        taken = {"holder": holder, "runId": run_id, "leaseUntil": now + lease, "nextRunAt": now}
        try:
            async with storage_errors("claiming the hygiene reconciliation"):
                await self._schedule.update_one(due, {"$set": taken}, upsert=True)
        except DuplicateKeyError:
            return None  # the schedule exists and is not due, or another process holds it
        return run_id

    async def customer_facts(self) -> list[CustomerFacts]:
        identities: dict[str, list[tuple[str, str]]] = {}
        async with storage_errors("reading identities for the hygiene reconciliation"):
            cursor = self._identities.find(
                {"type": {"$ne": ANONYMOUS_ID}},
                {"type": 1, "value": 1, "customerId": 1},
                batch_size=WHOLE_BATCH,
            )
            async for doc in cursor:
                pair = (str(doc["type"]), str(doc["value"]))
                identities.setdefault(str(doc["customerId"]), []).append(pair)
            cursor = self._customers.find(
                {"mergedInto": {"$exists": False}},
                {"traits": 1, "firstSeen": 1, "lastSeen": 1},
                batch_size=WHOLE_BATCH,
            )
            return [_facts(doc, identities.get(str(doc["_id"]), [])) async for doc in cursor]

    async def event_times(self, batch: int = 5000) -> AsyncIterator[Sequence[EventTimes]]:
        chunk: list[EventTimes] = []
        async with storage_errors("reading event times for the hygiene reconciliation"):
            cursor = self._events.find(
                {}, {"customerId": 1, "timestamp": 1, "data.receivedAt": 1}, batch_size=batch
            )
            async for doc in cursor:
                times = _event_times(doc)
                if times is not None:
                    chunk.append(times)
                if len(chunk) >= batch:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    async def publish(
        self, run: HygieneRun, findings: Sequence[Finding], *, holder: str, next_run_at: datetime
    ) -> bool:
        documents = [_finding_document(run.id, seq, f) for seq, f in enumerate(findings)]
        async with storage_errors("storing hygiene findings"):
            if documents:
                try:
                    await self._findings.insert_many(documents, ordered=False)
                except BulkWriteError as exc:
                    if not only_duplicates(exc):  # a retried run stores the same ids again
                        raise
            switched = await self._schedule.update_one(
                {"_id": SCHEDULE_ID, "holder": holder, "runId": run.id},
                {
                    "$set": {
                        "current": _run_document(run),
                        "nextRunAt": next_run_at,
                        "leaseUntil": run.generated_at,
                    }
                },
            )
            if switched.matched_count == 0:
                await self._findings.delete_many({"runId": run.id})
                return False
            await self._findings.delete_many({"runId": {"$ne": run.id}})
        return True

    async def report(self, kind: str | None, first: int, after: str | None) -> HygienePage:
        async with storage_errors("reading the hygiene report"):
            schedule = await self._schedule.find_one({"_id": SCHEDULE_ID}, {"current": 1})
            current = (schedule or {}).get("current")
            if not current:
                return HygienePage(run=None, findings=(), next_cursor=None)
            run = _run(current)
            low, high = f"{run.id}:{kind or ''}", f"{run.id}:{kind + ';' if kind else '~'}"
            if after is not None:
                low = _decode(after, run.id)
            cursor = (
                self._findings.find(
                    {"_id": {"$gt": low, "$lt": high}, "resolvedAt": {"$exists": False}}
                )
                .sort("_id", 1)
                .limit(first + 1)
            )
            documents = [doc async for doc in cursor]
        page = documents[:first]
        more = len(documents) > first
        return HygienePage(
            run=run,
            findings=[_finding(doc) for doc in page],
            next_cursor=_encode(str(page[-1]["_id"])) if more else None,
            finding_ids=[str(doc["_id"]) for doc in page],
        )

    async def finding(self, finding_id: str) -> StoredFinding | None:
        async with storage_errors("reading a hygiene finding"):
            run_id = await self._current_run_id()
            doc = await self._findings.find_one({"_id": finding_id, "runId": run_id})
        if run_id is None or doc is None:
            return None
        resolution = None
        if "resolvedAt" in doc:
            resolution = FindingResolution(
                survivor=str(doc.get("survivor")),
                by=str(doc.get("resolvedBy")),
                at=doc["resolvedAt"],
            )
        return StoredFinding(finding_id, _finding(doc), resolution)

    async def resolve(self, finding_id: str, resolution: FindingResolution) -> bool:
        stored = await self.finding(finding_id)
        if stored is None or stored.resolution is not None:
            return False
        async with storage_errors("resolving a hygiene finding"):
            # The key first: a crash before the mark leaves the finding listed, and resolving
            # it again completes the resolution.
            await self._resolved.update_one(
                {"_id": stored.finding.key},
                {"$setOnInsert": {"findingId": finding_id, "at": resolution.at}},
                upsert=True,
            )
            marked = await self._findings.update_one(
                {"_id": finding_id, "resolvedAt": {"$exists": False}},
                {
                    "$set": {
                        "resolvedAt": resolution.at,
                        "resolvedBy": resolution.by,
                        "survivor": resolution.survivor,
                    }
                },
            )
            if marked.modified_count == 0:
                return False
            run_id = finding_id.split(":", 1)[0]
            await self._schedule.update_one(
                {"_id": SCHEDULE_ID, "current.runId": run_id},
                {"$inc": {f"current.counts.{stored.finding.kind}": -1}},
            )
        return True

    async def resolved_keys(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        async with storage_errors("reading resolved hygiene findings"):
            cursor = self._resolved.find({"_id": {"$in": list(keys)}}, {"_id": 1})
            return {str(doc["_id"]) async for doc in cursor}

    async def _current_run_id(self) -> str | None:
        schedule = await self._schedule.find_one({"_id": SCHEDULE_ID}, {"current.runId": 1})
        run_id = ((schedule or {}).get("current") or {}).get("runId")
        return str(run_id) if run_id else None


def _facts(doc: Mapping[str, Any], identities: list[tuple[str, str]]) -> CustomerFacts:
    traits = {
        unescape_key(name): entry.get("value") if isinstance(entry, Mapping) else entry
        for name, entry in (doc.get("traits") or {}).items()
    }
    return CustomerFacts(
        id=str(doc["_id"]),
        traits=traits,
        identities=tuple(sorted(identities)),
        first_seen=doc.get("firstSeen"),
        last_seen=doc.get("lastSeen"),
    )


def _event_times(doc: Mapping[str, Any]) -> EventTimes | None:
    received = (doc.get("data") or {}).get("receivedAt")
    timestamp = doc.get("timestamp")
    if not isinstance(received, str) or not isinstance(timestamp, datetime):
        return None
    try:
        received_at = parse_time(received)
    except ValueError:
        return None
    return EventTimes(str(doc["_id"]), str(doc.get("customerId")), timestamp, received_at)


def _finding_document(run_id: str, seq: int, finding: Finding) -> Document:
    return {
        "_id": f"{run_id}:{finding.kind}:{seq:09d}",
        "runId": run_id,
        "kind": finding.kind,
        "customerIds": list(finding.customer_ids),
        "reason": finding.reason,
        "eventIds": list(finding.event_ids),
        "eventCount": finding.event_count,
    }


def _finding(doc: Mapping[str, Any]) -> Finding:
    kinds: dict[str, FindingKind] = {kind: kind for kind in KINDS}
    kind = kinds.get(str(doc["kind"]))
    if kind is None:
        raise ProfileError(f"hygiene finding {doc['_id']} has an unknown kind {doc['kind']!r}")
    return Finding(
        kind=kind,
        customer_ids=tuple(str(c) for c in doc.get("customerIds") or ()),
        reason=str(doc.get("reason", "")),
        event_ids=tuple(str(e) for e in doc.get("eventIds") or ()),
        event_count=int(doc.get("eventCount", 0)),
    )


def _run_document(run: HygieneRun) -> Document:
    return {
        "runId": run.id,
        "generatedAt": run.generated_at,
        "customers": run.customers,
        "events": run.events,
        "counts": dict(run.counts),
    }


def _run(doc: Mapping[str, Any]) -> HygieneRun:
    return HygieneRun(
        id=str(doc["runId"]),
        generated_at=doc["generatedAt"],
        customers=int(doc.get("customers", 0)),
        events=int(doc.get("events", 0)),
        counts={str(k): int(v) for k, v in (doc.get("counts") or {}).items()},
    )


def _encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def _decode(cursor: str, run_id: str) -> str:
    try:
        last_id = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HygieneCursorError(
            f"`after` {cursor!r} is not a cursor of hygieneReport; pass the `nextCursor` "
            "of the previous page, or omit `after` to start at the beginning"
        ) from None
    if not last_id.startswith(f"{run_id}:"):
        raise HygieneCursorError(
            "the hygiene report was replaced by a newer reconciliation run since this cursor "
            "was issued; omit `after` to read the new report from the beginning"
        )
    return last_id
