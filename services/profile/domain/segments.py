"""The segment condition language: JSON in, a validated condition tree out.

A condition is one JSON object. Combinators nest conditions; every other node
tests one fact of the customer::

    {"and": [c, …]}  {"or": [c, …]}  {"not": c}
    {"trait": "plan", "eq": "pro"}           operators (all given must hold):
        eq, ne, in [..], exists true|false, gt, gte, lt, lte (numbers, or strings
        such as ISO dates), contains (list element or substring), startsWith (prefix)
    {"identity": "email"}                    has an identity of that type (userId → user_id)
    {"consent": "marketing", "status": "granted"}        a purpose's status
    {"channelConsent": "email", "status": ["denied", "revoked"]}   a channel's status
        status: granted | denied | revoked | unknown (no statement), or a list of them
    {"event": "Order Completed", "count": {"gte": 2}, "within": "P30D"}
    {"event": "order_completed", "sum": {"property": "revenue", "gte": 100}, "within": "P7D"}
        counts or sums the customer's track events of that name (snake_cased as ingestion
        does) whose event time lies in the last ``within`` (ISO 8601 duration in weeks,
        days, hours, minutes, seconds; omitted: all time); no count/sum means count ≥ 1
    {"channel": "store"}                     seen on that channel (ever, or ``within``)
    {"journey": "onboarding", "stage": "activated"}      the journey's current stage
        (a string or a list), from ``journey.stage_changed``
    {"score": "churnRisk", "gte": 0.7}       the score's latest value, from ``score.changed``

A comparison (``count``, ``sum``, ``score``) takes any of eq, ne, gt, gte, lt, lte and
holds when all of them do. Validation reports every bad node by its JSON path
(``$.and[1].count.gte``) with what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.profile.domain import ProfileError
from services.profile.domain.identity import TYPE_ALIASES
from shared.normalize.canonical import CHANNELS as CHANNELS
from shared.normalize.canonical import CanonicalError, snake_case

CONSENT_STATUSES = frozenset({"granted", "denied", "revoked", "unknown"})
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")
TRAIT_OPERATORS = (*COMPARISONS, "in", "exists", "contains", "startsWith")
MAX_DEPTH = 32


class SegmentConditionError(ProfileError):
    """A condition that is not valid; ``problems`` maps JSON paths to what is wrong there."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        listed = "; ".join(f"{path}: {problem}" for path, problem in self.problems.items())
        super().__init__(f"invalid segment condition: {listed}")


@dataclass(frozen=True, slots=True)
class Comparison:
    """Operators with their operands, all of which must hold."""

    ops: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


@dataclass(frozen=True, slots=True)
class TraitIs:
    trait: str
    ops: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class HasIdentity:
    type: str


@dataclass(frozen=True, slots=True)
class ConsentIs:
    """A purpose's status, or a channel's when ``channel`` is set."""

    name: str
    statuses: frozenset[str]
    channel: bool = False


@dataclass(frozen=True, slots=True)
class EventsMatch:
    """Count (``sum_of`` None) or sum of a property over matching events in a window.

    Events match by track event name, or by channel when ``by_channel``.
    """

    name: str
    compare: Comparison
    within: timedelta | None
    sum_of: str | None = None
    by_channel: bool = False


@dataclass(frozen=True, slots=True)
class JourneyAt:
    journey: str
    stages: frozenset[str]


@dataclass(frozen=True, slots=True)
class ScoreIs:
    score: str
    compare: Comparison


Condition = And | Or | Not | TraitIs | HasIdentity | ConsentIs | EventsMatch | JourneyAt | ScoreIs


def parse_condition(raw: Any) -> Condition:
    """The validated condition tree of ``raw``; raises :class:`SegmentConditionError`."""
    problems: dict[str, str] = {}
    condition = _Parser(problems).node(raw, "$", 0)
    if problems or condition is None:
        raise SegmentConditionError(problems or {"$": "not a condition"})
    return condition


def windows(condition: Condition) -> list[timedelta | None]:
    """The windows of the condition's event nodes (None: an all-time one)."""
    match condition:
        case And(items) | Or(items):
            return [w for item in items for w in windows(item)]
        case Not(item):
            return windows(item)
        case EventsMatch(within=within):
            return [within]
        case _:
            return []


def node_types(condition: Condition) -> set[type]:
    """The kinds of test a condition makes (so an evaluator reads only the facts it needs)."""
    match condition:
        case And(items) | Or(items):
            return {kind for item in items for kind in node_types(item)}
        case Not(item):
            return node_types(item)
        case _:
            return {type(condition)}


_DURATION = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds (``P30D``, ``PT12H``)."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groupdict().values()) or text.endswith("T"):
        if re.fullmatch(r"P.*\d+[YM].*", text.split("T")[0]):
            raise ValueError("months and years have no fixed length; write days, e.g. P30D")
        raise ValueError(f"{text!r} is no ISO 8601 duration; write e.g. P30D, P2W or PT12H")
    parts = {key: int(value or 0) for key, value in match.groupdict().items()}
    duration = timedelta(
        weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"]
    )
    if duration <= timedelta(0):
        raise ValueError("the window must be longer than zero")
    return duration


class _Parser:
    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems

    def fail(self, path: str, problem: str) -> None:
        self.problems.setdefault(path, problem)

    def node(self, raw: Any, path: str, depth: int) -> Condition | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"conditions nest at most {MAX_DEPTH} deep; flatten and/or chains")
            return None
        if not isinstance(raw, Mapping):
            self.fail(path, 'must be a JSON object such as {"trait": "plan", "eq": "pro"}')
            return None
        kinds = [key for key in _NODE_KINDS if key in raw]
        if len(kinds) != 1:
            found = f"found {kinds}" if kinds else f"found keys {sorted(raw)}"
            self.fail(path, f"needs exactly one of {list(_NODE_KINDS)} ({found})")
            return None
        return _NODE_KINDS[kinds[0]](self, raw, path, depth)

    def unknown_keys(self, raw: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.fail(f"{path}.{key}", f"unknown key; allowed here: {list(allowed)}")

    def name(self, raw: Mapping[str, Any], key: str, path: str) -> str:
        value = raw[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path}.{key}", "must be a non-empty string")
            return ""
        return value.strip()

    def combinator(self, raw: Mapping[str, Any], path: str, depth: int) -> Condition | None:
        key = "and" if "and" in raw else "or"
        self.unknown_keys(raw, path, (key,))
        items = raw[key]
        if not isinstance(items, list) or not items:
            self.fail(f"{path}.{key}", "must be a non-empty list of conditions")
            return None
        parsed = [self.node(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(items)]
        children = tuple(c for c in parsed if c is not None)
        if len(children) != len(parsed):
            return None
        return And(children) if key == "and" else Or(children)

    def negation(self, raw: Mapping[str, Any], path: str, depth: int) -> Condition | None:
        self.unknown_keys(raw, path, ("not",))
        item = self.node(raw["not"], f"{path}.not", depth + 1)
        return Not(item) if item is not None else None

    def trait(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        self.unknown_keys(raw, path, ("trait", *TRAIT_OPERATORS))
        name = self.name(raw, "trait", path)
        ops = tuple((op, raw[op]) for op in TRAIT_OPERATORS if op in raw)
        if not ops:
            self.fail(
                path, f"a trait condition needs an operator: one or more of {TRAIT_OPERATORS}"
            )
        for op, operand in ops:
            self.trait_operand(op, operand, f"{path}.{op}")
        return TraitIs(name, ops)

    def trait_operand(self, op: str, operand: Any, path: str) -> None:
        if op == "in" and not isinstance(operand, list):
            self.fail(path, "must be a list of values")
        elif op == "exists" and not isinstance(operand, bool):
            self.fail(path, "must be true or false")
        elif op == "startsWith" and not isinstance(operand, str):
            self.fail(path, "must be a string (the prefix)")
        elif op in ("gt", "gte", "lt", "lte") and not _orderable(operand):
            self.fail(path, "must be a number or a string (e.g. an ISO date)")

    def identity(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        self.unknown_keys(raw, path, ("identity",))
        name = self.name(raw, "identity", path)
        return HasIdentity(TYPE_ALIASES.get(name, name))

    def consent(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        key = "consent" if "consent" in raw else "channelConsent"
        self.unknown_keys(raw, path, (key, "status"))
        name = self.name(raw, key, path)
        if key == "channelConsent" and name and name not in _CONSENT_CHANNELS:
            self.fail(
                f"{path}.{key}", f"unknown consent channel; one of {sorted(_CONSENT_CHANNELS)}"
            )
        statuses = self.strings(raw, "status", path, CONSENT_STATUSES)
        return ConsentIs(name, statuses, channel=key == "channelConsent")

    def strings(
        self, raw: Mapping[str, Any], key: str, path: str, allowed: frozenset[str] | None = None
    ) -> frozenset[str]:
        value = raw.get(key)
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            self.fail(f"{path}.{key}", "must be a string or a non-empty list of strings")
            return frozenset()
        if allowed is not None and not set(values) <= allowed:
            self.fail(
                f"{path}.{key}", f"{sorted(set(values) - allowed)} unknown; use {sorted(allowed)}"
            )
        return frozenset(values)

    def event(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        self.unknown_keys(raw, path, ("event", "count", "sum", "within"))
        name = self.name(raw, "event", path)
        try:
            name = snake_case(name) if name else name
        except CanonicalError as exc:
            self.fail(f"{path}.event", str(exc))
        within = self.window(raw, path)
        if "count" in raw and "sum" in raw:
            self.fail(path, "give either `count` or `sum`, not both")
            return None
        if "sum" in raw:
            total = raw["sum"]
            prop = total.get("property") if isinstance(total, Mapping) else None
            if not isinstance(prop, str) or not prop:
                self.fail(f"{path}.sum.property", "name the numeric event property to sum")
            compare = self.comparison(total, f"{path}.sum", extra=("property",))
            return EventsMatch(name, compare, within, sum_of=str(prop))
        compare = (
            self.comparison(raw["count"], f"{path}.count")
            if "count" in raw
            else Comparison((("gte", 1),))
        )
        return EventsMatch(name, compare, within)

    def channel(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        self.unknown_keys(raw, path, ("channel", "within"))
        name = self.name(raw, "channel", path)
        if name and name not in CHANNELS:
            self.fail(f"{path}.channel", f"unknown channel; one of {sorted(CHANNELS)}")
        within = self.window(raw, path)
        return EventsMatch(name, Comparison((("gte", 1),)), within, by_channel=True)

    def window(self, raw: Mapping[str, Any], path: str) -> timedelta | None:
        if "within" not in raw:
            return None
        text = raw["within"]
        if not isinstance(text, str):
            self.fail(f"{path}.within", "must be an ISO 8601 duration string such as P30D")
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.fail(f"{path}.within", str(exc))
            return None

    def comparison(self, raw: Any, path: str, extra: Sequence[str] = ()) -> Comparison:
        if not isinstance(raw, Mapping):
            self.fail(path, f'must be an object of comparisons, e.g. {{"gte": 2}}; {COMPARISONS}')
            return Comparison(())
        self.unknown_keys(raw, path, (*COMPARISONS, *extra))
        ops = tuple((op, raw[op]) for op in COMPARISONS if op in raw)
        if not ops:
            self.fail(path, f"needs at least one comparison of {COMPARISONS}")
        for op, operand in ops:
            if not _number(operand):
                self.fail(f"{path}.{op}", "must be a number")
        return Comparison(ops)

    def journey(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        self.unknown_keys(raw, path, ("journey", "stage"))
        name = self.name(raw, "journey", path)
        return JourneyAt(name, self.strings(raw, "stage", path))

    def score(self, raw: Mapping[str, Any], path: str, _: int) -> Condition | None:
        name = self.name(raw, "score", path)
        compare = self.comparison({k: v for k, v in raw.items() if k != "score"}, path, extra=())
        return ScoreIs(name, compare)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _orderable(value: Any) -> bool:
    return _number(value) or isinstance(value, str)


_CONSENT_CHANNELS = frozenset({"email", "sms", "push", "phone"})

_NODE_KINDS = {
    "and": _Parser.combinator,
    "or": _Parser.combinator,
    "not": _Parser.negation,
    "trait": _Parser.trait,
    "identity": _Parser.identity,
    "consent": _Parser.consent,
    "channelConsent": _Parser.consent,
    "event": _Parser.event,
    "channel": _Parser.channel,
    "journey": _Parser.journey,
    "score": _Parser.score,
}
