"""Journey definitions and trigger rules as plain documents (stored, and given through the graph).

:func:`journey_of` reads a document an operator wrote, so every problem names the
field it is in and how to fix it; :func:`journey_document` writes one back, and the
two round-trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.journey.domain.journeys import (
    Condition,
    DefinitionError,
    Journey,
    JourneyCatalog,
    Match,
    Stage,
)
from services.journey.domain.triggers import (
    EntersStage,
    FrictionDetected,
    InactiveInStage,
    Trigger,
)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise DefinitionError(f"{where} must be a list, got {value!r}")
    return list(value)


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise DefinitionError(f"{where}.{key} is required: give a non-empty string")
    return value


def _condition(doc: Any, where: str) -> Condition:
    if not isinstance(doc, Mapping):
        raise DefinitionError(f"{where} must be an object with property, op and value")
    return Condition(_text(doc, "property", where), doc.get("op") or "eq", doc.get("value"))


def _match(doc: Any, where: str) -> Match:
    if not isinstance(doc, Mapping):
        raise DefinitionError(f"{where} must be an object with events, kinds, channels, where")
    kinds = doc.get("kinds")
    return Match(
        events=tuple(str(e) for e in _list(doc.get("events"), f"{where}.events")),
        kinds=("track",) if kinds is None else tuple(str(k) for k in _list(kinds, where)),
        channels=tuple(str(c) for c in _list(doc.get("channels"), f"{where}.channels")),
        where=tuple(
            _condition(c, f"{where}.where[{n}]")
            for n, c in enumerate(_list(doc.get("where"), f"{where}.where"))
        ),
    )


def _stage(doc: Any, where: str) -> Stage:
    if not isinstance(doc, Mapping):
        raise DefinitionError(f"{where} must be an object with key, name and enteredBy")
    key = _text(doc, "key", where)
    matches = _list(doc.get("enteredBy"), f"{where}.enteredBy")
    return Stage(
        key,
        str(doc.get("name") or key),
        tuple(_match(m, f"{where}.enteredBy[{n}]") for n, m in enumerate(matches)),
    )


def journey_of(doc: Mapping[str, Any], version: int) -> Journey:
    """A journey from its document (``id``, ``name``, ``stages``, ``restartsAfter``)."""
    journey_id = _text(doc, "id", "journey")
    stages = _list(doc.get("stages"), "journey.stages")
    return Journey(
        id=journey_id,
        version=version,
        name=str(doc.get("name") or journey_id),
        stages=tuple(_stage(s, f"journey.stages[{n}]") for n, s in enumerate(stages)),
        restarts_after=doc.get("restartsAfter"),
    )


def _condition_document(condition: Condition) -> dict[str, Any]:
    value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
    return {"property": condition.property, "op": condition.op, "value": value}


def journey_document(journey: Journey) -> dict[str, Any]:
    """The document :func:`journey_of` reads back into ``journey``."""
    return {
        "id": journey.id,
        "version": journey.version,
        "name": journey.name,
        "restartsAfter": journey.restarts_after,
        "stages": [
            {
                "key": stage.key,
                "name": stage.name,
                "enteredBy": [
                    {
                        "events": list(match.events),
                        "kinds": list(match.kinds),
                        "channels": list(match.channels),
                        "where": [_condition_document(c) for c in match.where],
                    }
                    for match in stage.entered_by
                ],
            }
            for stage in journey.stages
        ],
    }


def catalog_of(defaults: JourneyCatalog, stored: Sequence[Journey]) -> JourneyCatalog:
    """The shipped journeys plus every stored version (a stored version 2 of ``purchase``
    supersedes the shipped version 1)."""
    known = {(j.id, j.version) for j in stored}
    shipped = tuple(j for j in defaults.definitions if (j.id, j.version) not in known)
    return JourneyCatalog((*shipped, *sorted(stored, key=lambda j: (j.id, j.version))))


def trigger_of(doc: Mapping[str, Any]) -> Trigger:
    """A trigger rule from its document: ``when`` is ``enters_stage`` (journeyId, stage),
    ``friction`` (kind) or ``inactive`` (journeyId, stage, durationSeconds)."""
    trigger_id = _text(doc, "id", "trigger")
    when = doc.get("when")
    created = doc.get("createdAt")
    not_before = created if isinstance(created, datetime) else None
    return Trigger(trigger_id, _when(when, f"trigger {trigger_id!r}"), not_before)


def _when(doc: Any, where: str) -> EntersStage | FrictionDetected | InactiveInStage:
    if not isinstance(doc, Mapping):
        raise DefinitionError(f"{where}: `when` must be an object with a `type`")
    kind = doc.get("type")
    if kind == "enters_stage":
        return EntersStage(_text(doc, "journeyId", where), _text(doc, "stage", where))
    if kind == "friction":
        return FrictionDetected(_text(doc, "kind", where))
    if kind == "inactive":
        seconds = doc.get("durationSeconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise DefinitionError(f"{where}: inactive needs durationSeconds, a number")
        return InactiveInStage(
            _text(doc, "journeyId", where),
            _text(doc, "stage", where),
            timedelta(seconds=seconds),
        )
    raise DefinitionError(
        f"{where}: `when.type` {kind!r} is unknown; use enters_stage, friction or inactive"
    )


def describe(trigger: Trigger) -> str:
    """The rule in words, as ``journey.triggered`` carries it."""
    when = trigger.when
    if isinstance(when, EntersStage):
        return f"enters stage {when.journey_id}/{when.stage}"
    if isinstance(when, FrictionDetected):
        return f"friction {when.kind} detected"
    seconds = int(when.duration.total_seconds())
    return f"inactive in stage {when.journey_id}/{when.stage} for {seconds}s"
