"""Journey definitions and trigger rules in the graph: read them, publish new versions.

``createJourney`` / ``updateJourney`` / ``createTrigger`` need the ``admin`` scope;
every version is kept, the newest of each journey is the one customers are mapped on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from services.journey.api.context import ADMIN, READ, JourneyInfo, bad_input
from services.journey.domain.default_journeys import DEFAULT_CATALOG
from services.journey.domain.definitions import (
    catalog_of,
    describe,
    journey_document,
    journey_of,
    trigger_of,
)
from services.journey.domain.journeys import DefinitionError, Journey, JourneyCatalog
from services.journey.domain.triggers import EntersStage, FrictionDetected, Trigger
from shared.events import utcnow
from shared.subgraph import require_scope


@strawberry.type
class StageCondition:
    property: str
    op: str
    value: JSON | None


@strawberry.type
class StageMatch:
    events: list[str]
    kinds: list[str]
    channels: list[str]
    where: list[StageCondition]


@strawberry.type
class StageDefinition:
    key: str
    name: str
    entered_by: list[StageMatch]


@strawberry.type
class JourneyDefinition:
    id: strawberry.ID
    version: int
    name: str
    restarts_after: str | None
    stages: list[StageDefinition]

    @classmethod
    def of(cls, journey: Journey) -> JourneyDefinition:
        doc = journey_document(journey)
        return cls(
            id=strawberry.ID(journey.id),
            version=journey.version,
            name=journey.name,
            restarts_after=journey.restarts_after,
            stages=[
                StageDefinition(
                    key=stage["key"],
                    name=stage["name"],
                    entered_by=[
                        StageMatch(
                            events=m["events"],
                            kinds=m["kinds"],
                            channels=m["channels"],
                            where=[StageCondition(**c) for c in m["where"]],
                        )
                        for m in stage["enteredBy"]
                    ],
                )
                for stage in doc["stages"]
            ],
        )


@strawberry.input
class ConditionInput:
    property: str
    op: str = "eq"
    value: JSON | None = None


@strawberry.input
class MatchInput:
    events: list[str] | None = None
    kinds: list[str] | None = None
    channels: list[str] | None = None
    where: list[ConditionInput] | None = None


@strawberry.input
class StageInput:
    key: str
    entered_by: list[MatchInput]
    name: str | None = None


@strawberry.input
class JourneyInput:
    id: str
    stages: list[StageInput]
    name: str | None = None
    restarts_after: str | None = None


def _document(given: JourneyInput) -> dict[str, Any]:
    return {
        "id": given.id,
        "name": given.name,
        "restartsAfter": given.restarts_after,
        "stages": [
            {
                "key": stage.key,
                "name": stage.name,
                "enteredBy": [
                    {
                        "events": m.events,
                        "kinds": m.kinds,
                        "channels": m.channels,
                        "where": [
                            {"property": c.property, "op": c.op, "value": c.value}
                            for c in m.where or ()
                        ],
                    }
                    for m in stage.entered_by
                ],
            }
            for stage in given.stages
        ],
    }


async def _catalog(info: JourneyInfo) -> JourneyCatalog:
    return catalog_of(DEFAULT_CATALOG, await info.context.need_catalog().journeys())


async def journeys(info: JourneyInfo, id: str | None = None) -> list[JourneyDefinition]:
    """The current version of every journey (shipped or stored); with ``id``, every
    version of that journey, oldest first."""
    require_scope(info.context.principal, READ)
    found = await _catalog(info)
    if id is None:
        return [JourneyDefinition.of(j) for j in found.current()]
    versions = sorted((j for j in found.definitions if j.id == id), key=lambda j: j.version)
    return [JourneyDefinition.of(j) for j in versions]


async def _publish(info: JourneyInfo, definition: JourneyInput, *, new: bool) -> JourneyDefinition:
    require_scope(info.context.principal, ADMIN)
    found = await _catalog(info)
    exists = any(j.id == definition.id for j in found.definitions)
    try:
        if new and exists:
            raise DefinitionError(
                f"journey {definition.id!r} exists; change it with updateJourney or pick another id"
            )
        if not new and not exists:
            raise DefinitionError(
                f"no journey {definition.id!r} to update; create it with createJourney"
            )
        latest = max((j.version for j in found.definitions if j.id == definition.id), default=0)
        journey = journey_of(_document(definition), latest + 1)
        found.with_version(journey)
        await info.context.need_catalog().add_journey(journey)
    except DefinitionError as exc:
        raise bad_input(exc) from exc
    return JourneyDefinition.of(journey)


async def create_journey(info: JourneyInfo, definition: JourneyInput) -> JourneyDefinition:
    """A new journey at version 1 (scope ``admin``)."""
    return await _publish(info, definition, new=True)


async def update_journey(info: JourneyInfo, definition: JourneyInput) -> JourneyDefinition:
    """A new version of an existing journey, shipped ones included (scope ``admin``);
    customers are mapped on it from their next recomputation."""
    return await _publish(info, definition, new=False)


@strawberry.type
class TriggerRule:
    id: strawberry.ID
    rule: str
    type: str
    journey_id: str | None
    stage: str | None
    kind: str | None
    duration_seconds: float | None

    @classmethod
    def of(cls, trigger: Trigger) -> TriggerRule:
        when = trigger.when
        if isinstance(when, FrictionDetected):
            return cls(
                id=strawberry.ID(trigger.id),
                rule=describe(trigger),
                type="friction",
                journey_id=None,
                stage=None,
                kind=when.kind,
                duration_seconds=None,
            )
        kind = "enters_stage" if isinstance(when, EntersStage) else "inactive"
        seconds = None if isinstance(when, EntersStage) else when.duration.total_seconds()
        return cls(
            id=strawberry.ID(trigger.id),
            rule=describe(trigger),
            type=kind,
            journey_id=when.journey_id,
            stage=when.stage,
            kind=None,
            duration_seconds=seconds,
        )


@strawberry.input
class TriggerInput:
    """``type``: enters_stage (journeyId, stage), friction (kind) or inactive (journeyId,
    stage, durationSeconds)."""

    id: str
    type: str
    journey_id: str | None = None
    stage: str | None = None
    kind: str | None = None
    duration_seconds: float | None = None
    not_before: datetime | None = None
    """Occurrences (event time) before this never fire; default: now."""


async def triggers(info: JourneyInfo) -> list[TriggerRule]:
    require_scope(info.context.principal, READ)
    return [TriggerRule.of(t) for t in await info.context.need_catalog().triggers()]


async def create_trigger(info: JourneyInfo, trigger: TriggerInput) -> TriggerRule:
    """Add or replace a trigger rule (scope ``admin``); occurrences before ``notBefore``
    (default now) never fire, so a new rule does not fire on all of history."""
    require_scope(info.context.principal, ADMIN)
    when = {
        "type": trigger.type,
        "journeyId": trigger.journey_id,
        "stage": trigger.stage,
        "kind": trigger.kind,
        "durationSeconds": trigger.duration_seconds,
    }
    document = {"id": trigger.id, "when": when, "createdAt": trigger.not_before or utcnow()}
    try:
        rule = trigger_of(document)
        await info.context.need_catalog().add_trigger(document)
    except DefinitionError as exc:
        raise bad_input(exc) from exc
    return TriggerRule.of(rule)
