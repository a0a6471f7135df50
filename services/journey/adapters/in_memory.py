"""In-memory twins of the journey service's ports, for unit tests of handlers and APIs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services.journey.adapters.ports import (
    Friction,
    JourneyProgress,
    ThreadSummary,
    Timeline,
    TimelineFilter,
    TimelinePage,
    position,
)
from services.journey.domain.definitions import trigger_of
from services.journey.domain.journeys import DefinitionError, Journey
from services.journey.domain.projection import Known, Projection
from services.journey.domain.stages import Progress
from services.journey.domain.timeline import Position
from services.journey.domain.touchpoints import Touchpoint
from services.journey.domain.triggers import Trigger


@dataclass
class InMemoryJourneyStore:
    """:class:`JourneyStore` in dicts."""

    touchpoints: dict[str, Touchpoint] = field(default_factory=dict)
    progress: dict[str, list[JourneyProgress]] = field(default_factory=dict)
    friction_docs: dict[str, list[Friction]] = field(default_factory=dict)

    async def save_touchpoints(self, touchpoints: Sequence[Touchpoint]) -> None:
        for touchpoint in touchpoints:
            self.touchpoints.setdefault(touchpoint.id, touchpoint)

    async def timeline(
        self, customer_id: str, *, first: int, after: Position | None, channel: str | None
    ) -> TimelinePage:
        mine = sorted(
            (
                t
                for t in self.touchpoints.values()
                if t.customer_id == customer_id and (channel is None or t.channel == channel)
            ),
            key=position,
            reverse=True,
        )
        if after is not None:
            mine = [t for t in mine if position(t) < after]
        return TimelinePage(tuple(mine[:first]), has_next=len(mine) > first)

    async def count(self, customer_id: str, channel: str | None) -> int:
        return sum(
            1
            for t in self.touchpoints.values()
            if t.customer_id == customer_id and (channel is None or t.channel == channel)
        )

    async def timelines(
        self,
        customer_ids: Sequence[str],
        *,
        first: int,
        after: Position | None,
        channel: str | None,
    ) -> dict[str, Timeline]:
        return {
            cid: Timeline(
                await self.timeline(cid, first=first, after=after, channel=channel),
                await self.count(cid, channel),
            )
            for cid in customer_ids
        }

    def _mine(self, customer_id: str, where: TimelineFilter) -> list[Touchpoint]:
        return sorted(
            (
                t
                for t in self.touchpoints.values()
                if t.customer_id == customer_id and where.admits(t)
            ),
            key=position,
            reverse=True,
        )

    async def filtered(
        self, customer_id: str, *, first: int, after: Position | None, where: TimelineFilter
    ) -> Timeline:
        mine = self._mine(customer_id, where)
        total = len(mine)
        if after is not None:
            mine = [t for t in mine if position(t) < after]
        return Timeline(TimelinePage(tuple(mine[:first]), has_next=len(mine) > first), total)

    async def newer(
        self, customer_id: str, *, last: int, before: Position | None, where: TimelineFilter
    ) -> TimelinePage:
        oldest_first = list(reversed(self._mine(customer_id, where)))
        if before is not None:
            oldest_first = [t for t in oldest_first if position(t) > before]
        page = oldest_first[:last]
        return TimelinePage(tuple(reversed(page)), has_next=len(oldest_first) > last)

    async def touchpoints_of(self, customer_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
        return {cid: list(reversed(self._mine(cid, TimelineFilter()))) for cid in customer_ids}

    async def journeys(self, customer_id: str) -> list[JourneyProgress]:
        return list(self.progress.get(customer_id, []))

    async def journeys_of(self, customer_ids: Sequence[str]) -> dict[str, list[JourneyProgress]]:
        return {cid: await self.journeys(cid) for cid in customer_ids}

    async def frictions(self, customer_id: str) -> list[Friction]:
        return sorted(
            self.friction_docs.get(customer_id, []), key=lambda f: f.detected_at, reverse=True
        )

    async def frictions_of(self, customer_ids: Sequence[str]) -> dict[str, list[Friction]]:
        return {cid: await self.frictions(cid) for cid in customer_ids}


def progress_values(found: Projection, names: Mapping[str, str]) -> list[JourneyProgress]:
    """The progress a projection stores, as the graph reads it back."""
    values = []
    for progress in found.progresses:
        current = progress.current
        if current is None:
            continue
        mine = [t for t in found.threads if t.journey_id == progress.journey_id]
        values.append(
            JourneyProgress(
                journey_id=progress.journey_id,
                name=names.get(progress.journey_id, progress.journey_id),
                stage=current.stage,
                entered_at=current.entered_at,
                updated_at=found.last_activity or current.entered_at,
                version=progress.version,
                history=progress.visits,
                handoffs=tuple(h for t in mine for h in t.handoffs),
                threads=tuple(ThreadSummary(t.cycle, t.channels, t.breaks) for t in mine),
            )
        )
    return values


def friction_values(found: Projection) -> list[Friction]:
    return [
        Friction(
            id=p.friction.id,
            kind=p.friction.kind,
            description=p.friction.kind.replace("_", " "),
            detected_at=p.friction.detected_at,
            touchpoint_ids=p.friction.evidence,
            stage=p.stage,
            channel=p.friction.channel,
            journey_id=p.journey_id,
            customer_id=p.friction.customer_id,
        )
        for p in found.frictions
    ]


@dataclass
class InMemoryStateStore:
    """:class:`StateStore` writing into an :class:`InMemoryJourneyStore`'s progress and
    frictions, so the graph reads what the handlers saved."""

    store: InMemoryJourneyStore
    fired: dict[str, set[str]] = field(default_factory=dict)
    due: dict[str, datetime] = field(default_factory=dict)
    leases: dict[str, datetime] = field(default_factory=dict)
    p90: dict[tuple[str, str], timedelta] = field(default_factory=dict)

    async def progresses(self) -> list[Progress]:
        return [
            Progress(cid, p.journey_id, p.version, p.history)
            for cid, found in self.store.progress.items()
            for p in found
        ]

    async def stage_p90(self) -> dict[tuple[str, str], timedelta]:
        return dict(self.p90)

    async def save_stage_p90(self, p90: Mapping[tuple[str, str], timedelta]) -> None:
        self.p90 = dict(p90)

    async def schedule(self, due: Mapping[str, datetime]) -> None:
        for cid, at in due.items():
            self.due[cid] = min(at, self.due.get(cid, at))

    async def known(self, customer_ids: Sequence[str]) -> dict[str, Known]:
        found = {}
        for cid in customer_ids:
            progresses = {
                p.journey_id: Progress(cid, p.journey_id, p.version, p.history)
                for p in self.store.progress.get(cid, [])
            }
            frictions = frozenset(f.id for f in self.store.friction_docs.get(cid, []))
            found[cid] = Known(progresses, frictions, frozenset(self.fired.get(cid, set())))
        return found

    async def save(self, projections: Sequence[Projection], names: Mapping[str, str]) -> None:
        for found in projections:
            cid = found.customer_id
            self.store.progress[cid] = progress_values(found, names)
            self.store.friction_docs[cid] = friction_values(found)
            self.fired.setdefault(cid, set()).update(t.occurrence for t in found.triggered)
            self.leases.pop(cid, None)
            if found.due_at is None:
                self.due.pop(cid, None)
            else:
                self.due[cid] = found.due_at

    async def claim_due(self, now: datetime, lease: float, limit: int) -> list[str]:
        ready = sorted(
            (at, cid)
            for cid, at in self.due.items()
            if at <= now and self.leases.get(cid, now) <= now
        )
        claimed = [cid for _, cid in ready[:limit]]
        for cid in claimed:
            self.leases[cid] = now + timedelta(seconds=lease)
        return claimed


@dataclass
class InMemoryIdentityStore:
    """:class:`IdentityStore` over an :class:`InMemoryJourneyStore` and its state."""

    state: InMemoryStateStore
    alias: dict[str, str] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)

    async def aliases(self, customer_ids: Sequence[str]) -> dict[str, str]:
        return {cid: self.alias[cid] for cid in customer_ids if cid in self.alias}

    async def record_merge(self, survivor: str, merged: Sequence[str]) -> None:
        others = [cid for cid in merged if cid != survivor]
        self.alias.pop(survivor, None)
        for cid, target in list(self.alias.items()):
            if target in others:
                self.alias[cid] = survivor
        self.alias.update(dict.fromkeys(others, survivor))

    async def rekey(self, survivor: str, merged: Sequence[str]) -> None:
        store = self.state.store
        others = set(merged) - {survivor}
        for key, point in list(store.touchpoints.items()):
            if point.customer_id in others:
                store.touchpoints[key] = point.with_customer(survivor)
        for cid in others:
            store.progress.pop(cid, None)
            store.friction_docs.pop(cid, None)
            self.state.due.pop(cid, None)
            self.state.fired.setdefault(survivor, set()).update(self.state.fired.pop(cid, set()))

    async def move(self, ingest_ids: Sequence[str], source: str, target: str) -> None:
        store = self.state.store
        for key, point in list(store.touchpoints.items()):
            if point.customer_id == source and point.event_id in ingest_ids:
                store.touchpoints[key] = point.with_customer(target)

    async def erased(self, customer_ids: Sequence[str]) -> set[str]:
        return {cid for cid in customer_ids if cid in self.gone}

    async def erase(self, customer_ids: Sequence[str]) -> None:
        ids = set(customer_ids)
        self.gone |= ids
        store = self.state.store
        for key, point in list(store.touchpoints.items()):
            if point.customer_id in ids:
                del store.touchpoints[key]
        for cid in ids:
            store.progress.pop(cid, None)
            store.friction_docs.pop(cid, None)
            self.state.fired.pop(cid, None)
            self.state.due.pop(cid, None)
        self.alias = {k: v for k, v in self.alias.items() if k not in ids and v not in ids}


@dataclass
class InMemoryCatalogStore:
    """:class:`CatalogStore` in lists."""

    versions: list[Journey] = field(default_factory=list)
    rules: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    async def journeys(self) -> list[Journey]:
        return list(self.versions)

    async def add_journey(self, journey: Journey) -> None:
        if any((j.id, j.version) == (journey.id, journey.version) for j in self.versions):
            raise DefinitionError(
                f"journey {journey.id!r} version {journey.version} was saved meanwhile; "
                "read the journeys again and update the newest version"
            )
        self.versions.append(journey)

    async def triggers(self) -> list[Trigger]:
        return [trigger_of(doc) for doc in self.rules.values()]

    async def add_trigger(self, document: Mapping[str, Any]) -> None:
        trigger_of(document)
        self.rules[str(document["id"])] = dict(document)


@dataclass
class InMemoryAnalyticsStore:
    """:class:`AnalyticsStore` over an :class:`InMemoryJourneyStore`."""

    store: InMemoryJourneyStore

    async def touchpoints_between(
        self,
        start: datetime,
        end: datetime,
        *,
        events: Sequence[str] | None = None,
        properties: bool = False,
    ) -> list[Touchpoint]:
        return [
            t if properties else replace(t, properties={})
            for t in self.store.touchpoints.values()
            if start <= t.timestamp < end and (events is None or t.name in events)
        ]

    async def frictions_between(self, start: datetime, end: datetime) -> list[Friction]:
        return [
            f
            for found in self.store.friction_docs.values()
            for f in found
            if start <= f.detected_at < end
        ]

    async def all_progress(self) -> list[JourneyProgress]:
        return [p for found in self.store.progress.values() for p in found]


@dataclass
class InMemorySegmentStore:
    """:class:`SegmentStore` in a dict keyed by (segment, customer)."""

    memberships: dict[tuple[str, str], tuple[int, bool]] = field(default_factory=dict)

    async def record(
        self, segment_id: str, customer_id: str, member: bool, version: int, at: datetime
    ) -> None:
        stored = self.memberships.get((segment_id, customer_id))
        if stored is None or stored[0] < version:
            self.memberships[(segment_id, customer_id)] = (version, member)

    async def members(self, segment_id: str) -> set[str]:
        return {c for (s, c), (_, member) in self.memberships.items() if s == segment_id and member}

    async def rekey(self, survivor: str, merged: Sequence[str]) -> None:
        for (segment, customer), (version, member) in list(self.memberships.items()):
            if customer in merged and customer != survivor:
                del self.memberships[(segment, customer)]
                await self.record(segment, survivor, member, version, datetime.min)
