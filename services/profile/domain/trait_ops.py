"""Which trait statements an event makes: Segment's traits and PostHog's ``$set`` operators.

- Every trait of an identify (and of ``context.traits`` on other calls) is a ``set``.
- Inside those traits, or inside a track's ``properties`` (PostHog's capture API),
  ``$set`` (object) sets, ``$set_once`` (object) sets only while the trait has no
  value, and ``$unset`` (a list of names, or an object whose keys are names) removes.
- A name that both plain traits and ``$set`` give takes the ``$set`` value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.profile.domain.traits import OpKind, TraitOp

OPERATORS = ("$set", "$set_once", "$unset")
Say = Callable[[OpKind, str, Any], None]
_SETTERS: tuple[tuple[OpKind, str], ...] = (("set", "$set"), ("set_once", "$set_once"))


def trait_statements(
    traits: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    *,
    at: datetime,
    event_id: str,
    source: str,
    channel: str,
) -> dict[str, list[TraitOp]]:
    """The statements per trait name, at most one of each kind per name."""
    found: dict[str, dict[OpKind, Any]] = {}

    def say(kind: OpKind, name: str, value: Any) -> None:
        found.setdefault(name, {})[kind] = value

    for name, value in traits.items():
        if name not in OPERATORS:
            say("set", name, value)
    for operators in (traits, properties or {}):
        _operators(operators, say)
    return {
        name: [TraitOp(kind, value, at, event_id, source, channel) for kind, value in kinds.items()]
        for name, kinds in found.items()
    }


def _operators(container: Mapping[str, Any], say: Say) -> None:
    for kind, key in _SETTERS:
        values = container.get(key)
        if isinstance(values, Mapping):
            for name, value in values.items():
                say(kind, str(name), value)
    unset = container.get("$unset")
    if isinstance(unset, Mapping):
        unset = list(unset)
    if isinstance(unset, list):
        for name in unset:
            if isinstance(name, str) and name:
                say("unset", name, None)
