"""Journey definitions as data: ordered stages, each entered by matching events.

A :class:`Journey` is versioned; a :class:`JourneyCatalog` holds every version
of every journey, so progress computed under version 1 can still be explained
after version 2 ships. Matching is on the canonical (snake_case) event name,
the channel, and conditions on the event's properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from services.journey.domain import JourneyError
from services.journey.domain.interactions import Interaction
from shared.normalize.canonical import CHANNELS, CanonicalError, snake_case

Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "missing"]
_OPERATORS = frozenset(get_args(Operator))
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})
_MISSING = object()


class DefinitionError(JourneyError):
    """A journey, stage or condition definition is malformed; the message says how to fix it."""


def as_number(value: Any) -> Decimal | None:
    """A finite number from a number or numeric text (``"9"``, ``"12.50"``), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _lookup(properties: Mapping[str, Any], path: str) -> Any:
    """A property by dotted path (``shipping.method``); ``_MISSING`` when absent."""
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    a, b = as_number(left), as_number(right)
    if a is not None and b is not None:
        return a == b
    return bool(left == right)


@dataclass(frozen=True, slots=True)
class Condition:
    """A test on one property (dotted path); numbers compare by value, ``"9"`` equals ``9``."""

    property: str
    op: Operator = "eq"
    value: Any = None

    def __post_init__(self) -> None:
        if not self.property:
            raise DefinitionError("a condition needs a `property` name such as 'survey'")
        if self.op not in _OPERATORS:
            raise DefinitionError(
                f"condition on {self.property!r}: unknown op {self.op!r}; "
                f"use one of {', '.join(sorted(_OPERATORS))}"
            )
        if self.op in ("in", "not_in"):
            if not isinstance(self.value, tuple | list | frozenset | set):
                raise DefinitionError(
                    f"condition on {self.property!r}: op {self.op!r} needs a list of values"
                )
            object.__setattr__(self, "value", tuple(self.value))
        if self.op in _ORDERING and as_number(self.value) is None:
            raise DefinitionError(
                f"condition on {self.property!r}: op {self.op!r} needs a number, got {self.value!r}"
            )

    def holds(self, properties: Mapping[str, Any]) -> bool:
        actual = _lookup(properties, self.property)
        if self.op == "exists":
            return actual is not _MISSING and actual is not None
        if self.op == "missing":
            return actual is _MISSING or actual is None
        if actual is _MISSING:
            return self.op in ("ne", "not_in")
        if self.op == "eq":
            return _equal(actual, self.value)
        if self.op == "ne":
            return not _equal(actual, self.value)
        if self.op == "in":
            return any(_equal(actual, option) for option in self.value)
        if self.op == "not_in":
            return not any(_equal(actual, option) for option in self.value)
        number, bound = as_number(actual), as_number(self.value)
        if number is None or bound is None:
            return False
        return {
            "gt": number > bound,
            "gte": number >= bound,
            "lt": number < bound,
            "lte": number <= bound,
        }[self.op]


@dataclass(frozen=True, slots=True)
class Match:
    """Which interactions count: any of ``events`` (empty = any name), ``kinds``,
    any of ``channels`` (empty = any), and every condition in ``where``."""

    events: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("track",)
    channels: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        try:
            names = tuple(snake_case(name) for name in self.events)
        except CanonicalError as exc:
            raise DefinitionError(f"match events: {exc}") from exc
        object.__setattr__(self, "events", names)
        unknown = sorted(set(self.channels) - CHANNELS)
        if unknown:
            raise DefinitionError(
                f"match channels {unknown} are not channels; use {', '.join(sorted(CHANNELS))}"
            )

    def matches(self, item: Interaction) -> bool:
        return (
            (not self.events or item.event in self.events)
            and (not self.kinds or item.kind in self.kinds)
            and (not self.channels or item.channel in self.channels)
            and all(condition.holds(item.properties) for condition in self.where)
        )


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage; a customer enters it on an interaction matching any of ``entered_by``."""

    key: str
    name: str
    entered_by: tuple[Match, ...]

    def __post_init__(self) -> None:
        if not self.entered_by:
            raise DefinitionError(
                f"stage {self.key!r} has no `entered_by` matches; give it at least one Match"
            )

    def matches(self, item: Interaction) -> bool:
        return any(match.matches(item) for match in self.entered_by)


@dataclass(frozen=True, slots=True)
class Journey:
    """An ordered list of stages, one version of one journey.

    A customer moves forward only: an interaction matching a later stage enters
    it (skipping stages in between), one matching the current or an earlier
    stage keeps the customer where they are. When ``restarts_after`` names a
    stage, an interaction matching the first stage once that stage was reached
    starts a new cycle (a new support case, say).
    """

    id: str
    version: int
    name: str
    stages: tuple[Stage, ...]
    restarts_after: str | None = None
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.version < 1:
            raise DefinitionError(f"journey {self.id!r}: version must be 1 or more")
        if not self.stages:
            raise DefinitionError(f"journey {self.id!r} has no stages; give it at least one")
        keys = [stage.key for stage in self.stages]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise DefinitionError(
                f"journey {self.id!r}: stage keys {duplicates} appear twice; keys must be unique"
            )
        if self.restarts_after is not None and self.restarts_after not in keys:
            raise DefinitionError(
                f"journey {self.id!r}: restarts_after {self.restarts_after!r} is not a stage; "
                f"use one of {keys} or None"
            )
        object.__setattr__(self, "_index", {key: i for i, key in enumerate(keys)})

    def index(self, stage: str) -> int:
        try:
            return self._index[stage]
        except KeyError:
            raise DefinitionError(
                f"journey {self.id!r} has no stage {stage!r}; its stages are {list(self._index)}"
            ) from None

    def matching(self, item: Interaction) -> tuple[int, ...]:
        """Indexes of the stages this interaction enters, in stage order."""
        return tuple(i for i, stage in enumerate(self.stages) if stage.matches(item))

    def is_relevant(self, item: Interaction) -> bool:
        return any(stage.matches(item) for stage in self.stages)


@dataclass(frozen=True, slots=True)
class JourneyCatalog:
    """Every version of every journey definition; the newest version of each is current."""

    definitions: tuple[Journey, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[tuple[str, int], Journey] = {}
        for journey in self.definitions:
            other = seen.setdefault((journey.id, journey.version), journey)
            if other is not journey and other != journey:
                raise DefinitionError(
                    f"journey {journey.id!r} version {journey.version} is defined twice "
                    "with different content; publish the change as a new version"
                )

    def with_version(self, journey: Journey) -> JourneyCatalog:
        """This catalog plus ``journey``, which must be the next version of its id."""
        latest = max((j.version for j in self.definitions if j.id == journey.id), default=0)
        if journey.version != latest + 1:
            raise DefinitionError(
                f"journey {journey.id!r} is at version {latest}; "
                f"publish the change as version {latest + 1}, not {journey.version}"
            )
        return JourneyCatalog((*self.definitions, journey))

    def current(self) -> tuple[Journey, ...]:
        """The newest version of each journey, by id."""
        newest: dict[str, Journey] = {}
        for journey in self.definitions:
            if journey.id not in newest or journey.version > newest[journey.id].version:
                newest[journey.id] = journey
        return tuple(newest[key] for key in sorted(newest))

    def get(self, journey_id: str, version: int | None = None) -> Journey:
        """One version of a journey (the newest when ``version`` is None)."""
        versions = [j for j in self.definitions if j.id == journey_id]
        if not versions:
            known = sorted({j.id for j in self.definitions})
            raise DefinitionError(f"no journey {journey_id!r}; known journeys are {known}")
        if version is None:
            return max(versions, key=lambda j: j.version)
        for journey in versions:
            if journey.version == version:
                return journey
        raise DefinitionError(
            f"journey {journey_id!r} has no version {version}; "
            f"it has {sorted(j.version for j in versions)}"
        )
