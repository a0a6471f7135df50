"""The events the journey service publishes (contracts of this round, DESIGN.md §3).

``journey.stage_changed``, ``journey.friction_detected`` and ``journey.triggered``;
each id derives from what caused it, so republishing after a crash or a replayed
batch yields the same ids and consumers deduplicate them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.journey.domain.definitions import describe
from services.journey.domain.projection import Placed, Projection
from services.journey.domain.stages import StageEntered
from services.journey.domain.triggers import Trigger, Triggered
from shared.events import CloudEvent, derived_id, format_time

SOURCE = "threadline/journey"
STAGE_CHANGED = "io.threadline.journey.stage_changed"
FRICTION_DETECTED = "io.threadline.journey.friction_detected"
TRIGGERED = "io.threadline.journey.triggered"


def _event(
    kind: str, ident: str, customer_id: str, data: dict[str, object], when: datetime
) -> CloudEvent:
    return CloudEvent(
        type=kind,
        source=SOURCE,
        id=ident,
        time=when,
        subject=customer_id,
        partitionkey=customer_id,
        data=data,
    )


def stage_changed(entered: StageEntered) -> CloudEvent:
    visit = entered.visit
    ident = derived_id("journey.stage_changed", entered.customer_id, *map(str, visit.key))
    return _event(
        STAGE_CHANGED,
        ident,
        entered.customer_id,
        {
            "customerId": entered.customer_id,
            "journeyId": entered.journey_id,
            "journeyVersion": entered.version,
            "stage": visit.stage,
            "previousStage": entered.previous_stage,
            "enteredAt": format_time(visit.entered_at),
            "causedBy": visit.entered_by,
        },
        visit.entered_at,
    )


def friction_detected(placed: Placed) -> CloudEvent:
    friction = placed.friction
    return _event(
        FRICTION_DETECTED,
        derived_id("journey.friction_detected", friction.id),
        friction.customer_id,
        {
            "customerId": friction.customer_id,
            "frictionId": friction.id,
            "kind": friction.kind,
            "stage": placed.stage,
            "channel": friction.channel,
            "detectedAt": format_time(friction.detected_at),
            "evidence": list(friction.evidence),
        },
        friction.detected_at,
    )


def triggered(fired: Triggered, rules: dict[str, Trigger]) -> CloudEvent:
    rule = rules.get(fired.trigger_id)
    return _event(
        TRIGGERED,
        derived_id("journey.triggered", fired.occurrence),
        fired.customer_id,
        {
            "customerId": fired.customer_id,
            "triggerId": fired.trigger_id,
            "rule": describe(rule) if rule is not None else fired.trigger_id,
            "at": format_time(fired.at),
            "causedBy": fired.evidence[-1] if fired.evidence else None,
        },
        fired.at,
    )


def events_of(projections: Iterable[Projection], rules: Iterable[Trigger]) -> list[CloudEvent]:
    """Everything new in ``projections``: stages entered, frictions detected, triggers fired."""
    by_id = {rule.id: rule for rule in rules}
    out: list[CloudEvent] = []
    for found in projections:
        out.extend(stage_changed(entered) for entered in found.entered)
        out.extend(friction_detected(placed) for placed in found.new_frictions)
        out.extend(triggered(fired, by_id) for fired in found.triggered)
    return out
