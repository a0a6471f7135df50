"""The writes that save a recomputed journey state, leaving out those that change nothing.

A recomputation yields each touched customer's whole state, most of it as stored
already: an event rarely moves more than one journey or friction. Replacing an
unchanged document still costs the database a journaled write statement, so each
write is compared with the document stored (read once per batch, :class:`Stored`)
and only differences are sent: replacements of changed or new documents, one delete
of the ids a customer no longer has, and the customer's schedule when it moved. The
documents the collections end up holding are the same as replacing everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import CodecOptions, decode, encode
from pymongo import DeleteMany, ReplaceOne, UpdateOne

from services.journey.adapters.mongo import handoff_document, visit_document
from services.journey.domain.projection import Placed, Projection
from shared.events import derived_id
from shared.mongo import Document

_AS_STORED: CodecOptions[Document] = CodecOptions(tz_aware=True)


def progress_id(customer_id: str, journey_id: str) -> str:
    return derived_id("progress", customer_id, journey_id)


@dataclass(frozen=True, slots=True)
class Stored:
    """The state documents of a batch's customers as read before saving: progress and
    frictions by customer then ``_id``, ``journey_customers`` documents by ``_id``."""

    progress: Mapping[str, Mapping[str, Document]] = field(default_factory=dict)
    frictions: Mapping[str, Mapping[str, Document]] = field(default_factory=dict)
    customers: Mapping[str, Document] = field(default_factory=dict)


def unchanged(stored: Document | None, document: Document) -> bool:
    """Whether ``document`` is what the database holds already, compared as BSON stores
    it (datetimes to the millisecond, tuples as arrays)."""
    if stored is None:
        return False
    return bool(decode(encode(document), codec_options=_AS_STORED) == stored)


def progress_documents(found: Projection, names: Mapping[str, str]) -> list[Document]:
    """The ``journey_progress`` documents of the customer's journeys with a current stage."""
    cid = found.customer_id
    documents = []
    for progress in found.progresses:
        current = progress.current
        if current is None:
            continue
        threads = [t for t in found.threads if t.journey_id == progress.journey_id]
        documents.append(
            {
                "_id": progress_id(cid, progress.journey_id),
                "customerId": cid,
                "journeyId": progress.journey_id,
                "journeyVersion": progress.version,
                "name": names.get(progress.journey_id, progress.journey_id),
                "stage": current.stage,
                "enteredAt": current.entered_at,
                "updatedAt": found.last_activity or current.entered_at,
                "history": [visit_document(v) for v in progress.visits],
                "handoffs": [handoff_document(h) for thread in threads for h in thread.handoffs],
                "threads": [
                    {"cycle": t.cycle, "channels": list(t.channels), "breaks": t.breaks}
                    for t in threads
                ],
            }
        )
    return documents


def progress_writes(found: Projection, names: Mapping[str, str], stored: Stored) -> list[Any]:
    mine = stored.progress.get(found.customer_id, {})
    documents = progress_documents(found, names)
    writes: list[Any] = [
        ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
        for doc in documents
        if not unchanged(mine.get(doc["_id"]), doc)
    ]
    return writes + _stale(found.customer_id, mine, [doc["_id"] for doc in documents])


def friction_writes(found: Projection, stored: Stored) -> list[Any]:
    mine = stored.frictions.get(found.customer_id, {})
    writes: list[Any] = []
    for placed in found.frictions:
        document = {"_id": placed.friction.id, **friction_document(placed)}
        if not unchanged(mine.get(placed.friction.id), document):
            writes.append(ReplaceOne({"_id": placed.friction.id}, document, upsert=True))
    ids = [placed.friction.id for placed in found.frictions]
    return writes + _stale(found.customer_id, mine, ids)


def _stale(customer_id: str, stored: Mapping[str, Document], ids: list[str]) -> list[Any]:
    kept = set(ids)
    gone = [ident for ident in stored if ident not in kept]
    if not gone:
        return []
    return [DeleteMany({"customerId": customer_id, "_id": {"$in": gone}})]


def friction_document(placed: Placed) -> Document:
    friction = placed.friction
    return {
        "customerId": friction.customer_id,
        "kind": friction.kind,
        "description": friction.kind.replace("_", " "),
        "detectedAt": friction.detected_at,
        "touchpointIds": list(friction.evidence),
        "stage": placed.stage,
        "journeyId": placed.journey_id,
        "channel": friction.channel,
    }


def customer_write(found: Projection, stored: Stored) -> UpdateOne | None:
    """The customer's last activity and next due date, and the end of any scheduler lease
    on it; None when the stored document says so already."""
    update: dict[str, Any] = {"$unset": {"leaseUntil": ""}}
    values: dict[str, Any] = {"lastActivity": found.last_activity}
    if found.due_at is None:
        update["$unset"]["dueAt"] = ""
    else:
        values["dueAt"] = found.due_at
    update["$set"] = values
    current = stored.customers.get(found.customer_id)
    if current is not None:
        expected = {"_id": found.customer_id, **values}
        held: Document = {
            key: current[key] for key in ("_id", "lastActivity", "dueAt") if key in current
        }
        if "leaseUntil" not in current and unchanged(held, expected):
            return None
    return UpdateOne({"_id": found.customer_id}, update, upsert=True)
