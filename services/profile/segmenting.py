"""Real-time segments: evaluate customers as they change, on time, and after a definition
changes; publish ``segment.entered`` / ``segment.exited``.

Three callers drive one :meth:`SegmentEngine.evaluate`: the ingest handler (the
customers a batch touched), the facts consumer (journey stages and scores from the
other services), and the scheduler (:meth:`SegmentEngine.tick`: re-checks whose
window moment came, and re-evaluation jobs in pages). Membership records are read
before the facts and written conditionally on what was read, so an evaluator with
an older view loses the race and evaluates again; transitions are published from
the records' outbox flag, after the write, with ids derived from the transition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.profile.adapters.ports import ProfileStore
from services.profile.adapters.segment_ports import (
    OutsideFacts,
    ScoreFact,
    SegmentJob,
    SegmentStore,
    StageFact,
)
from services.profile.domain import ProfileError
from services.profile.domain.customer import Customer
from services.profile.domain.identity import IdentityRecord
from services.profile.domain.segment_eval import CustomerFacts, EventFact
from services.profile.domain.segment_membership import (
    Membership,
    SegmentDefinition,
    decide,
)
from services.profile.domain.segments import HasIdentity, JourneyAt, ScoreIs, node_types, windows
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id, format_time, parse_time, utcnow

log = logging.getLogger("threadline.profile.segments")

SOURCE = "threadline/profile"
ENTERED = "io.threadline.segment.entered"
EXITED = "io.threadline.segment.exited"
STAGE_CHANGED = "io.threadline.journey.stage_changed"
SCORE_CHANGED = "io.threadline.score.changed"
MERGED = "io.threadline.customer.merged"
SPLIT = "io.threadline.customer.split"
ERASED = "io.threadline.customer.erased"
IDENTITY_CHANGES = (MERGED, SPLIT, ERASED)
ALIAS_HOPS = 8
WRITE_ATTEMPTS = 4


@dataclass
class SegmentEngine:
    """Evaluates segments for customers and publishes the transitions."""

    profiles: ProfileStore
    segments: SegmentStore
    publisher: Publisher
    clock: Callable[[], datetime] = utcnow
    lease: timedelta = timedelta(seconds=60)
    due_batch: int = 500
    job_page: int = 500
    job_pages_per_tick: int = 20

    async def refresh(self, customer_ids: Sequence[str]) -> None:
        """Re-evaluate every segment for customers that just changed."""
        if customer_ids:
            await self.evaluate(customer_ids, self.clock())

    async def evaluate(self, customer_ids: Sequence[str], now: datetime) -> None:
        ids = list(dict.fromkeys(customer_ids))
        every = await self.segments.definitions(deleted=True)
        if not every:
            return  # no segment was ever defined: nothing to be a member of
        live = [d for d in every if not d.deleted]
        pending = ids
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            stored = await self.segments.memberships(pending)  # before the facts: see above
            if not live and not any(stored.values()):
                break
            facts = await self._facts(pending, live, now)
            writes = [
                write
                for cid in pending
                for write in decide(cid, live, stored.get(cid, {}), facts.get(cid), now)
            ]
            lost = await self.segments.write(writes)
            if not lost:
                break
            pending = list(dict.fromkeys(w.record.customer_id for w in lost))
            if attempt == WRITE_ATTEMPTS:
                raise ProfileError(
                    f"segment memberships of {len(pending)} customer(s) kept changing "
                    "concurrently; the batch is retried"
                )
        await self._publish(ids, {d.id: d for d in every})

    async def _publish(
        self, ids: Sequence[str], definitions: Mapping[str, SegmentDefinition]
    ) -> None:
        pending = await self.segments.unpublished(ids)
        if not pending:
            return
        await self.publisher.publish(
            [transition_event(m, definitions.get(m.segment_id)) for m in pending]
        )
        await self.segments.mark_published(pending)

    async def _facts(
        self, ids: Sequence[str], live: Sequence[SegmentDefinition], now: datetime
    ) -> dict[str, CustomerFacts]:
        customers = await self.profiles.customers(ids)
        gone = await self.segments.retired(ids)  # merged away or erased: member of nothing
        present = [cid for cid in ids if cid in customers and cid not in gone]
        if not present:
            return {}
        # Only the facts some segment tests: every read costs each batch a round trip.
        tested = {kind for d in live for kind in node_types(d.condition)}
        identities = await self.profiles.identities_of(present) if HasIdentity in tested else {}
        outside = (
            await self.segments.outside_facts(present) if tested & {JourneyAt, ScoreIs} else {}
        )
        spans = [w for d in live for w in windows(d.condition)]
        events: dict[str, list[EventFact]] = {}
        if spans:
            since = None if None in spans else now - max(w for w in spans if w is not None)
            events = await self.segments.recent_events(present, since)
        return {
            cid: facts_of(
                customers[cid],
                identities.get(cid, []),
                outside.get(cid, OutsideFacts()),
                events.get(cid, []),
            )
            for cid in present
        }

    async def tick(self, now: datetime | None = None) -> None:
        """One round of the scheduler: due re-checks, then a slice of a re-evaluation job."""
        now = self.clock() if now is None else now
        due = await self.segments.claim_due(now, self.lease, self.due_batch)
        if due:
            await self.evaluate(due, now)
        await self.run_job(now)

    async def run_job(self, now: datetime) -> SegmentJob | None:
        """Advance the oldest open job by up to ``job_pages_per_tick`` pages."""
        job = await self.segments.claim_job(now, self.lease)
        for _ in range(self.job_pages_per_tick):
            if job is None or job.status == "done":
                return job
            ids = await self.segments.customer_ids(job.cursor, self.job_page)
            if ids:
                await self.evaluate(ids, now)
                job = replace(job, cursor=ids[-1], processed=job.processed + len(ids))
            else:
                job = replace(job, status="done", finished_at=now)
            job = await self.segments.advance_job(job, now, self.lease)
        return job

    async def handle_facts(self, batch: Sequence[CloudEvent]) -> None:
        """The ``profile.facts`` consumer: keep journey stages and scores, follow merges,
        splits and erasures, re-evaluate whom they concern."""
        for event in batch:
            if event.type in IDENTITY_CHANGES:
                await self._identity_changed(event)
        facts = [fact_of(event) for event in batch if event.type not in IDENTITY_CHANGES]
        if facts:
            kept = await self._rekeyed(facts)
            await self.segments.record_facts(kept)
            await self.refresh([fact.customer_id for fact in kept])

    async def _rekeyed(self, facts: Sequence[StageFact | ScoreFact]) -> list[StageFact | ScoreFact]:
        """Facts about merged-away ids, as their survivor's; those about erased ids dropped.

        Another service may still speak of an id it has not yet seen merged (the
        notice travels on another shard)."""
        owner = {fact.customer_id: fact.customer_id for fact in facts}
        for _ in range(ALIAS_HOPS):
            gone = await self.segments.retired(list(set(owner.values()) - {""}))
            if not gone:
                break
            owner = {cid: _follow(now, gone) for cid, now in owner.items()}
        return [replace(f, customer_id=owner[f.customer_id]) for f in facts if owner[f.customer_id]]

    async def _identity_changed(self, event: CloudEvent) -> None:
        data = event.data
        survivor = str(data.get("customerId") or "")
        if event.type == MERGED:
            merged = [str(cid) for cid in data.get("mergedIds") or () if cid != survivor]
            await self.segments.retire(dict.fromkeys(merged, survivor))
            await self.segments.move_facts(merged, survivor)
            await self.refresh([survivor, *merged])
        elif event.type == SPLIT:
            await self.refresh([survivor, str(data.get("newCustomerId") or "")])
        else:
            erased = list(dict.fromkeys([survivor, *map(str, data.get("erasedIds") or ())]))
            erased = [cid for cid in erased if cid]
            await self.segments.retire(dict.fromkeys(erased))
            await self.refresh(erased)  # every membership exits, published
            await self.segments.forget(erased)


def _follow(customer_id: str, gone: Mapping[str, str | None]) -> str:
    """The id's survivor, itself when not merged away, "" when erased."""
    if customer_id not in gone:
        return customer_id
    return gone[customer_id] or ""


def facts_of(
    customer: Customer,
    identities: Sequence[IdentityRecord],
    outside: OutsideFacts,
    events: Sequence[EventFact],
) -> CustomerFacts:
    return CustomerFacts(
        customer_id=customer.id,
        traits={name: trait.value for name, trait in customer.traits.items() if trait.present},
        identity_types=frozenset(record.identity.type for record in identities),
        consents={c.purpose: c.status for c in customer.consents.values() if c.channel is None},
        channel_consents={
            c.channel: c.status for c in customer.consents.values() if c.channel is not None
        },
        channels=customer.channels,
        events=tuple(events),
        journeys=outside.journeys,
        scores=outside.scores,
    )


def transition_event(record: Membership, definition: SegmentDefinition | None) -> CloudEvent:
    kind = "entered" if record.member else "exited"
    at = record.changed_at or utcnow()
    return CloudEvent(
        type=ENTERED if record.member else EXITED,
        source=SOURCE,
        id=derived_id("segment", kind, record.segment_id, record.customer_id, str(record.seq)),
        time=at,
        subject=record.customer_id,
        partitionkey=record.customer_id,
        data={
            "customerId": record.customer_id,
            "segmentId": record.segment_id,
            "segmentName": definition.name if definition is not None else "",
            "version": record.version,
            "at": format_time(at),
        },
    )


def fact_of(event: CloudEvent) -> StageFact | ScoreFact:
    """The fact a ``journey.stage_changed`` or ``score.changed`` event states."""
    data = event.data
    try:
        if event.type == STAGE_CHANGED:
            return StageFact(
                customer_id=_text(data, "customerId"),
                journey_id=_text(data, "journeyId"),
                stage=_text(data, "stage"),
                entered_at=parse_time(_text(data, "enteredAt")),
                event_id=event.id,
            )
        if event.type == SCORE_CHANGED:
            value = data.get("value")
            return ScoreFact(
                customer_id=_text(data, "customerId"),
                score=_text(data, "score"),
                value=None if value is None else float(value),
                at=parse_time(_text(data, "at")),
                event_id=event.id,
            )
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{event.type} event {event.id}: {exc}") from exc
    raise ProfileError(
        f"event {event.id} of type {event.type} is no fact the profile keeps; "
        f"bind only {STAGE_CHANGED} and {SCORE_CHANGED} to profile.facts"
    )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{key}` must be a non-empty string, got {value!r}")
    return value
