"""The scoring consumer ``scoring.events``: resolved events and the identity changes they need.

Resolved events (``customer.event.#``) update each customer's metrics, the KPI
facts, contributions and buckets, and announce threshold crossings
(``score.changed``); ``customer.merged`` / ``split`` / ``erased`` re-key or
remove contributions (a merge moves the crossing states too, ``handlers/states.py``).
A batch is handled in its order: runs of resolved events between identity
changes, each identity change on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.scoring.adapters.ports import KpiStore, MetricsStore, ModelStore
from services.scoring.config import ScoringConfig
from services.scoring.handlers import handle_customer_events
from services.scoring.handlers.kpis import (
    handle_erased,
    handle_membership,
    handle_merged,
    handle_resolved,
    handle_split,
)
from services.scoring.handlers.scores import announce_crossings
from services.scoring.handlers.states import move_merged_states
from shared.bus.ports import ConsumerSpec, Publisher
from shared.events import CloudEvent

CONSUMER = "scoring.events"
RESOLVED = "io.threadline.customer.event."
BINDINGS = (
    "customer.event.#",
    "customer.merged",
    "customer.split",
    "customer.erased",
    "segment.entered",
    "segment.exited",
)


@dataclass(frozen=True, slots=True)
class ScoringPorts:
    metrics: MetricsStore
    kpis: KpiStore
    models: ModelStore
    publisher: Publisher
    config: ScoringConfig


def events_consumer(ports: ScoringPorts) -> ConsumerSpec:
    """The ``scoring.events`` group over any stores; ``bootstrap`` wires the real ones."""

    async def handle(batch: Sequence[CloudEvent]) -> None:
        run: list[CloudEvent] = []
        for event in batch:
            if event.type.startswith(RESOLVED):
                run.append(event)
                continue
            await _resolved(run, ports)
            run = []
            await _identity(event, ports)
        await _resolved(run, ports)

    return ConsumerSpec(CONSUMER, BINDINGS, handle)


async def _resolved(run: Sequence[CloudEvent], ports: ScoringPorts) -> None:
    if not run:
        return
    erased = await ports.kpis.erased(str(e.data.get("customerId")) for e in run)
    kept = [e for e in run if str(e.data.get("customerId")) not in erased]
    if kept:  # an erased customer's later events are dropped everywhere
        await handle_customer_events(kept, store=ports.metrics)
    histories = await handle_resolved(run, store=ports.kpis)
    await announce_crossings(
        histories, models=ports.models, publisher=ports.publisher, config=ports.config
    )


async def _identity(event: CloudEvent, ports: ScoringPorts) -> None:
    kind = event.routing_key
    if kind == "customer.merged":
        await handle_merged(event.data, store=ports.kpis)
        await move_merged_states(event.data, kpis=ports.kpis, models=ports.models)
    elif kind == "customer.split":
        await handle_split(event.data, store=ports.kpis)
    elif kind in ("segment.entered", "segment.exited"):
        await handle_membership(event.data, inside=kind == "segment.entered", store=ports.kpis)
    elif kind == "customer.erased":
        erased = await handle_erased(event.data, store=ports.kpis)
        await ports.metrics.delete(erased)
        await ports.models.forget(erased)
