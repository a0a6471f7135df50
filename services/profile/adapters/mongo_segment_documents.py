"""The documents of the segment collections on MongoDB, to and from the domain's values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.profile.adapters.mongo import unescape_key
from services.profile.adapters.segment_ports import OutsideFacts, ScoreFact, SegmentJob, StageFact
from services.profile.domain.segment_eval import EventFact
from services.profile.domain.segment_membership import Membership, SegmentDefinition
from shared.mongo import Document


def facts_from_document(doc: Mapping[str, Any], customer_id: str) -> list[StageFact | ScoreFact]:
    """The facts a ``customer_facts`` document holds, as ``customer_id``'s."""
    facts: list[StageFact | ScoreFact] = [
        StageFact(customer_id, unescape_key(k), str(v["stage"]), v["at"], str(v["eventId"]))
        for k, v in (doc.get("journeys") or {}).items()
    ]
    facts += [
        ScoreFact(customer_id, unescape_key(k), v.get("value"), v["at"], str(v["eventId"]))
        for k, v in (doc.get("scores") or {}).items()
    ]
    return facts


def definition_document(definition: SegmentDefinition) -> Document:
    return {
        "_id": definition.id,
        "name": definition.name,
        "description": definition.description,
        # As JSON text: operands may hold keys MongoDB field names cannot (dots, `$`).
        "condition": orjson.dumps(definition.condition_json).decode(),
        "version": definition.version,
        "deleted": definition.deleted,
        "createdAt": definition.created_at,
        "updatedAt": definition.updated_at,
    }


def definition_from_document(doc: Mapping[str, Any]) -> SegmentDefinition:
    return SegmentDefinition(
        id=str(doc["_id"]),
        name=str(doc["name"]),
        condition_json=orjson.loads(doc["condition"]),
        version=int(doc["version"]),
        description=str(doc.get("description") or ""),
        deleted=bool(doc.get("deleted")),
        created_at=doc.get("createdAt"),
        updated_at=doc.get("updatedAt"),
    )


def job_document(job: SegmentJob) -> Document:
    doc: Document = {
        "_id": job.id,
        "segmentId": job.segment_id,
        "version": job.version,
        "createdAt": job.created_at,
        "total": job.total,
        "status": job.status,
        "processed": job.processed,
        "cursor": job.cursor,
        "claimedUntil": job.claimed_until,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
    }
    if job.started_at is None:
        del doc["startedAt"]  # absent, not null: the first claim's ``$min`` sets it
    return doc


def job_from_document(doc: Mapping[str, Any]) -> SegmentJob:
    return SegmentJob(
        id=str(doc["_id"]),
        segment_id=str(doc["segmentId"]),
        version=int(doc["version"]),
        created_at=doc["createdAt"],
        total=int(doc.get("total") or 0),
        status=doc.get("status", "pending"),
        processed=int(doc.get("processed") or 0),
        cursor=doc.get("cursor"),
        claimed_until=doc.get("claimedUntil"),
        started_at=doc.get("startedAt"),
        finished_at=doc.get("finishedAt"),
    )


def membership_document(record: Membership) -> Document:
    return {
        "segmentId": record.segment_id,
        "customerId": record.customer_id,
        "member": record.member,
        "seq": record.seq,
        "changedAt": record.changed_at,
        "version": record.version,
        "recheckAt": record.recheck_at,
        "published": record.published,
    }


def membership_from_document(doc: Mapping[str, Any]) -> Membership:
    return Membership(
        segment_id=str(doc["segmentId"]),
        customer_id=str(doc["customerId"]),
        member=bool(doc.get("member")),
        seq=int(doc.get("seq") or 0),
        changed_at=doc.get("changedAt"),
        version=int(doc.get("version") or 0),
        recheck_at=doc.get("recheckAt"),
        published=bool(doc.get("published", True)),
    )


def outside_from_document(doc: Mapping[str, Any]) -> OutsideFacts:
    journeys = doc.get("journeys") or {}
    scores = doc.get("scores") or {}
    return OutsideFacts(
        journeys={unescape_key(k): str(v.get("stage")) for k, v in journeys.items()},
        scores={
            unescape_key(k): None if v.get("value") is None else float(v["value"])
            for k, v in scores.items()
        },
    )


def event_fact(doc: Mapping[str, Any]) -> EventFact:
    data = doc.get("data") or {}
    properties = data.get("properties") if isinstance(data, Mapping) else None
    return EventFact(
        name=str(doc["event"]) if doc.get("kind") == "track" and doc.get("event") else None,
        timestamp=doc["timestamp"],
        channel=str(doc.get("channel") or "other"),
        properties=properties if isinstance(properties, Mapping) else {},
    )
