"""Traits with provenance, merged per trait by a configurable strategy, in any order.

A trait's value is what applying its statements in event-time order would give
(ordered by event time, then event id, then ``set_once`` < ``set`` < ``unset``
inside one event), whatever order they arrive in: offline mobile queues, store
batches and two shards writing one customer all converge. Each trait keeps the
statements that can still decide its value (:class:`TraitState`), and two states
join with :func:`fold` (commutative, associative, idempotent), which is also how
the MongoDB adapter combines a concurrent writer's state with its own and how a
merged customer's traits fold into the survivor's.

Strategies (``THREADLINE_TRAIT_STRATEGIES``, latest by default) combine ``set``s:

- ``latest``: the latest value; Segment's and PostHog's ``$set_once`` fills the
  trait only while no ``set`` is visible, ``$unset`` removes it.
- ``first``: the earliest value (first-wins is set-once: ``$set_once`` is a ``set``).
- ``max`` / ``min``: the largest / smallest number or string (numbers order before
  strings, as in MongoDB); other values are ignored.
- ``sum``: the sum of the numbers, one contribution per event: the state keeps a
  ledger of (event id, amount), so a redelivered event never counts twice. The
  ledger grows with the events summed; sum what stays small (visits, not page views).
- ``union``: the set of items of every value (a list contributes its items).

``$unset`` is a reset: statements before it no longer count (a later ``set`` under
``sum`` starts from zero). Statements that can never decide the value again are
dropped (an older ``set`` under ``latest``); for ``first``, ``max``, ``min`` and
``$set_once`` the :data:`MAX_KEPT` earliest are kept, which is exact unless an
``$unset`` arrives later than all of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, get_args

import orjson

from services.profile.domain import ProfileError

Strategy = Literal["latest", "first", "max", "min", "sum", "union"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
OpKind = Literal["set_once", "set", "unset"]
_RANK: dict[str, int] = {"set_once": 0, "set": 1, "unset": 2}
MAX_KEPT = 32
"""How many statements ``first``, ``max``, ``min`` and ``$set_once`` keep per trait."""

__all__ = [
    "DEFAULT_RULES",
    "MAX_KEPT",
    "STRATEGIES",
    "Strategy",
    "TraitOp",
    "TraitRules",
    "TraitState",
    "fold",
    "fold_traits",
    "merge_traits",
]


@dataclass(frozen=True, slots=True)
class TraitOp:
    """One statement about a trait: what was said, by which event, when, from where."""

    kind: OpKind
    value: Any
    at: datetime
    event_id: str
    source: str
    channel: str

    def order(self) -> tuple[datetime, str, int]:
        return (self.at, self.event_id, _RANK[self.kind])


@dataclass(frozen=True, slots=True)
class TraitState:
    """A trait's deciding statements: ``ops`` after the latest ``reset`` (unset), oldest first."""

    strategy: Strategy = "latest"
    ops: tuple[TraitOp, ...] = ()
    reset: TraitOp | None = None

    @classmethod
    def of(cls, ops: Iterable[TraitOp], strategy: Strategy = "latest") -> TraitState:
        return _compacted(cls(strategy=strategy), list(ops))

    @property
    def present(self) -> bool:
        return self.provenance is not None

    @property
    def value(self) -> Any:
        """The current value (None when unset or never set)."""
        return _decide(self)[0]

    @property
    def provenance(self) -> TraitOp | None:
        """The statement the value comes from (the latest contributing one for sum/union)."""
        return _decide(self)[1]

    @property
    def source(self) -> str:
        return self.provenance.source if self.provenance else ""

    @property
    def channel(self) -> str:
        return self.provenance.channel if self.provenance else ""

    @property
    def event_id(self) -> str:
        return self.provenance.event_id if self.provenance else ""

    @property
    def updated_at(self) -> datetime | None:
        return self.provenance.at if self.provenance else None


@dataclass(frozen=True, slots=True)
class TraitRules:
    """The strategy of each trait (``latest`` unless configured)."""

    strategies: Mapping[str, Strategy] = field(default_factory=dict)

    @classmethod
    def of(cls, strategies: Mapping[str, str]) -> TraitRules:
        unknown = {name: s for name, s in strategies.items() if s not in STRATEGIES}
        if unknown:
            raise ProfileError(
                f"trait strategies {unknown} are unknown; use one of {', '.join(STRATEGIES)} "
                '(e.g. THREADLINE_TRAIT_STRATEGIES=\'{"visits": "sum"}\')'
            )
        return cls({name: s for name, s in strategies.items() if s in STRATEGIES})

    def strategy(self, name: str) -> Strategy:
        return self.strategies.get(name, "latest")


DEFAULT_RULES = TraitRules()


def merge_traits(
    current: Mapping[str, TraitState],
    ops: Mapping[str, Iterable[TraitOp]],
    rules: TraitRules = DEFAULT_RULES,
) -> tuple[dict[str, TraitState], dict[str, TraitState]]:
    """Apply statements per trait; returns (merged traits, the traits whose state changed)."""
    merged = dict(current)
    changed: dict[str, TraitState] = {}
    for name, statements in ops.items():
        strategy = rules.strategy(name)
        existing = merged.get(name) or TraitState(strategy=strategy)
        state = _compacted(replace(existing, strategy=strategy), list(statements))
        if state != existing:
            merged[name] = changed[name] = state
    return merged, changed


def fold(a: TraitState, b: TraitState) -> TraitState:
    """The join of two states of one trait: as if every statement of both had been applied.

    Two states under different strategies (the configuration changed between
    them) take the strategy of the one whose newest statement is newer.
    """
    strategy = a.strategy if _newest(a) >= _newest(b) else b.strategy
    resets = [r for r in (a.reset, b.reset) if r is not None]
    base = TraitState(strategy=strategy, reset=max(resets, key=TraitOp.order, default=None))
    return _compacted(base, [*a.ops, *b.ops])


def fold_traits(a: Mapping[str, TraitState], b: Mapping[str, TraitState]) -> dict[str, TraitState]:
    """Every trait of two customers folded (for merges: the survivor's and the merged one's)."""
    folded = dict(a)
    for name, state in b.items():
        folded[name] = fold(folded[name], state) if name in folded else state
    return folded


def _newest(state: TraitState) -> tuple[datetime, str, int] | tuple[()]:
    orders = [op.order() for op in (*state.ops, *([state.reset] if state.reset else []))]
    return max(orders, default=())


def _compacted(state: TraitState, incoming: list[TraitOp]) -> TraitState:
    resets = [op for op in incoming if op.kind == "unset"]
    if state.reset is not None:
        resets.append(state.reset)
    reset = max(resets, key=TraitOp.order, default=None)
    floor = reset.order() if reset is not None else None
    unique: dict[tuple[datetime, str, int], TraitOp] = {}
    for op in (*state.ops, *incoming):
        if op.kind == "unset" or (floor is not None and op.order() <= floor):
            continue
        if _counts(state.strategy, op):
            unique.setdefault(op.order(), op)
    ops = sorted(unique.values(), key=TraitOp.order)
    return TraitState(strategy=state.strategy, ops=_undominated(state.strategy, ops), reset=reset)


def _counts(strategy: Strategy, op: TraitOp) -> bool:
    if strategy in ("max", "min"):
        return _comparable(op.value)
    if strategy == "sum":
        return _number(op.value)
    return True


def _undominated(strategy: Strategy, ops: list[TraitOp]) -> tuple[TraitOp, ...]:
    """Drop statements that a later one beats whenever both count (oldest first)."""
    if strategy == "latest":
        sets = [i for i, op in enumerate(ops) if op.kind == "set"]
        kept = ops[sets[-1] :] if sets else ops
        # Older set_onces cannot fill the trait while the latest set counts.
        return tuple(kept[:1] + [op for op in kept[1:] if op.kind == "set_once"][: MAX_KEPT - 1])
    if strategy in ("max", "min"):
        return _staircase(ops, 1 if strategy == "max" else -1)[:MAX_KEPT]
    if strategy == "first":
        return tuple(ops[:MAX_KEPT])
    if strategy == "union":
        return tuple(
            op
            for i, op in enumerate(ops)
            if not any(_items(op.value) <= _items(later.value) for later in ops[i + 1 :])
        )
    return tuple(ops)  # sum: every contribution counts


def _staircase(ops: list[TraitOp], sign: int) -> tuple[TraitOp, ...]:
    """For max (sign 1) or min (-1): the statements strictly better than every later one."""
    kept: list[TraitOp] = []
    best: tuple[int, Any] | None = None
    for op in reversed(ops):
        key = _value_key(op.value)
        if best is None or _better(key, best, sign):
            kept.append(op)
            best = key
    return tuple(reversed(kept))


def _better(key: tuple[int, Any], than: tuple[int, Any], sign: int) -> bool:
    return key > than if sign > 0 else key < than


def _decide(state: TraitState) -> tuple[Any, TraitOp | None]:
    ops = state.ops
    if not ops:
        return None, None
    strategy = state.strategy
    if strategy == "latest":
        sets = [op for op in ops if op.kind == "set"]
        winner = sets[-1] if sets else ops[0]
        return winner.value, winner
    if strategy == "first":
        return ops[0].value, ops[0]
    if strategy in ("max", "min"):
        pick = max if strategy == "max" else min
        best = pick(_value_key(op.value) for op in ops)
        # Of equal values the latest decides, as it outranks the older in _undominated.
        winner = [op for op in ops if _value_key(op.value) == best][-1]
        return winner.value, winner
    if strategy == "sum":
        return _sum(op.value for op in ops), ops[-1]
    items: dict[bytes, Any] = {}
    for op in ops:
        for item in _item_list(op.value):
            items.setdefault(_canonical(item), item)
    return [items[key] for key in sorted(items)], ops[-1]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _comparable(value: Any) -> bool:
    return _number(value) or isinstance(value, str)


def _value_key(value: Any) -> tuple[int, Any]:
    """Numbers before strings, as MongoDB orders them."""
    return (0, value) if _number(value) else (1, str(value))


def _sum(values: Iterable[Any]) -> int | float:
    numbers: list[int | float] = list(values)
    if all(isinstance(n, int) for n in numbers):
        return sum(numbers)
    return math.fsum(numbers)  # exactly rounded: the same whatever the order


def _item_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _items(value: Any) -> frozenset[bytes]:
    return frozenset(_canonical(item) for item in _item_list(value))


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
