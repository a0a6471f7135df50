"""The profile consumers: ``profile.ingest`` resolves every ``ingest.*`` event,
``profile.facts`` keeps the journey stages and scores segments test; the segment
scheduler runs beside them.

Batch envelopes (``ingest.batch``, one per partition key of a collected
request) are opened by the bus (:func:`services.profile.ingest.members`), so
the handler sees plain ingest events in order and each one is deduplicated by
its own id, retried and, if it keeps failing, parked on its own: one event the
store cannot take never holds back the rest of its device's batch. A malformed
envelope is retried and then parked whole. ``bootstrap`` wires the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.profile.adapters.ports import ProfileStore
from services.profile.domain.resolution_rules import DEFAULT_RULES, ResolutionRules
from services.profile.domain.traits import DEFAULT_RULES as DEFAULT_TRAIT_RULES
from services.profile.domain.traits import TraitRules
from services.profile.handlers import handle_ingested
from services.profile.ingest import members
from services.profile.screening import PrivacyGate
from services.profile.segmenting import SegmentEngine
from shared.bus.ports import ConsumerSpec, Publisher
from shared.events import CloudEvent

log = logging.getLogger("threadline.profile.worker")

CONSUMER = "profile.ingest"
BINDINGS = ("ingest.#",)
FACTS_CONSUMER = "profile.facts"
FACTS_BINDINGS = (
    "journey.stage_changed",
    "score.changed",
    "customer.merged",
    "customer.split",
    "customer.erased",
)


def ingest_consumer(
    store: ProfileStore,
    publisher: Publisher,
    gate: PrivacyGate | None = None,
    rules: ResolutionRules = DEFAULT_RULES,
    traits: TraitRules = DEFAULT_TRAIT_RULES,
    segments: SegmentEngine | None = None,
) -> ConsumerSpec:
    """The ``profile.ingest`` group over any profile store (unit tests pass an in-memory one):
    ``rules`` resolve identities, ``traits`` combine trait values; ``gate`` screens out
    suppressed and erased people before resolution; with ``segments``, the customers of
    each saved batch are re-evaluated."""
    on_saved = segments.refresh if segments is not None else None

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_ingested(
            batch,
            store=store,
            publisher=publisher,
            gate=gate,
            rules=rules,
            traits=traits,
            on_saved=on_saved,
        )

    return ConsumerSpec(CONSUMER, BINDINGS, handle, unpack=members)


def facts_consumer(segments: SegmentEngine) -> ConsumerSpec:
    """The ``profile.facts`` group: journey stages and scores for segment conditions, and
    the merges, splits and erasures that move or end memberships."""
    return ConsumerSpec(FACTS_CONSUMER, FACTS_BINDINGS, segments.handle_facts)


async def run_scheduler(segments: SegmentEngine, interval_seconds: float) -> None:
    """Re-check expiring windows and run re-evaluation jobs every ``interval_seconds``,
    until cancelled. Claims are leases, so every worker process may run one."""
    while True:
        try:
            await segments.tick()
        except Exception:
            # A failed round (the database away for a moment) is retried on the next one.
            log.exception("segment scheduler round failed; retrying in %ss", interval_seconds)
        await asyncio.sleep(interval_seconds)
