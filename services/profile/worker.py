"""The profile consumer: ``profile.ingest`` resolves every ``ingest.*`` event.

Batch envelopes (``ingest.batch``, one per partition key of a collected
request) are opened by the bus (:func:`services.profile.ingest.members`), so
the handler sees plain ingest events in order and each one is deduplicated by
its own id, retried and, if it keeps failing, parked on its own: one event the
store cannot take never holds back the rest of its device's batch. A malformed
envelope is retried and then parked whole. ``bootstrap`` wires the store.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.profile.adapters.ports import ProfileStore
from services.profile.domain.resolution_rules import DEFAULT_RULES, ResolutionRules
from services.profile.handlers import handle_ingested
from services.profile.ingest import members
from shared.bus.ports import ConsumerSpec, Publisher
from shared.events import CloudEvent

CONSUMER = "profile.ingest"
BINDINGS = ("ingest.#",)


def ingest_consumer(
    store: ProfileStore, publisher: Publisher, rules: ResolutionRules = DEFAULT_RULES
) -> ConsumerSpec:
    """The ``profile.ingest`` group over any profile store (unit tests pass an in-memory one)."""

    async def handle(batch: Sequence[CloudEvent]) -> None:
        await handle_ingested(batch, store=store, publisher=publisher, rules=rules)

    return ConsumerSpec(CONSUMER, BINDINGS, handle, unpack=members)
