"""Managing segment definitions: create, change (a new version), delete.

Each change stores the definition conditionally on the version it replaces and
queues a job that re-evaluates every customer against it; the scheduler of the
profile worker runs the job (:meth:`SegmentEngine.run_job`), its progress is
queryable (``Segment.job``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.profile.adapters.segment_ports import SegmentJob, SegmentStore
from services.profile.domain import ProfileError
from services.profile.domain.segment_membership import SegmentDefinition
from shared.events import derived_id


class SegmentNotFoundError(ProfileError):
    def __init__(self, segment_id: str) -> None:
        super().__init__(
            f"no segment {segment_id!r}; list the segments with `segments {{ id name }}`"
        )


class SegmentChangedError(ProfileError):
    """Another change of the segment was stored first."""


async def create_segment(
    store: SegmentStore,
    *,
    name: str,
    condition: Mapping[str, Any],
    description: str,
    now: datetime,
) -> tuple[SegmentDefinition, SegmentJob]:
    """Validate and store a new segment; raises ``SegmentConditionError`` naming bad nodes."""
    definition = SegmentDefinition(
        id=f"seg_{uuid.uuid4().hex[:16]}",
        name=_name(name),
        condition_json=dict(condition),
        description=description,
        created_at=now,
        updated_at=now,
    )
    await store.put_definition(definition)
    return definition, await _queue(store, definition, now)


async def update_segment(
    store: SegmentStore,
    segment_id: str,
    *,
    now: datetime,
    name: str | None = None,
    condition: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> tuple[SegmentDefinition, SegmentJob]:
    """Store the next version of a segment and re-evaluate everyone against it."""
    current = await _live(store, segment_id)
    definition = replace(
        current,
        name=current.name if name is None else _name(name),
        condition_json=current.condition_json if condition is None else dict(condition),
        description=current.description if description is None else description,
        version=current.version + 1,
        updated_at=now,
    )
    return await _store_version(store, definition, now)


async def delete_segment(
    store: SegmentStore, segment_id: str, *, now: datetime
) -> tuple[SegmentDefinition, SegmentJob]:
    """Delete a segment: every member exits (in the background job)."""
    current = await _live(store, segment_id)
    deleted = replace(current, deleted=True, version=current.version + 1, updated_at=now)
    return await _store_version(store, deleted, now)


async def _live(store: SegmentStore, segment_id: str) -> SegmentDefinition:
    current = await store.definition(segment_id)
    if current is None or current.deleted:
        raise SegmentNotFoundError(segment_id)
    return current


async def _store_version(
    store: SegmentStore, definition: SegmentDefinition, now: datetime
) -> tuple[SegmentDefinition, SegmentJob]:
    if not await store.put_definition(definition):
        raise SegmentChangedError(
            f"segment {definition.id!r} was changed by someone else meanwhile; read it "
            "again and repeat the change"
        )
    return definition, await _queue(store, definition, now)


async def _queue(store: SegmentStore, definition: SegmentDefinition, now: datetime) -> SegmentJob:
    job = SegmentJob(
        id=derived_id("segment-job", definition.id, str(definition.version)),
        segment_id=definition.id,
        version=definition.version,
        created_at=now,
        total=await store.customer_count(),
    )
    await store.add_job(job)
    return job


def _name(name: str) -> str:
    if not name.strip():
        raise ProfileError("a segment needs a non-empty `name`")
    return name.strip()
