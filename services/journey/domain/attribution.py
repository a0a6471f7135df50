"""Channel attribution (DESIGN.md §5): which channels earned each conversion.

For each ``conversion`` event in ``[start, end)``, its touchpoints are the
customer's events in the ``lookback`` before it, the conversion included. Each
conversion's credit (1, and its revenue) is split over their channels:

- ``first`` / ``last``: all to the first / last touchpoint;
- ``linear``: equal per touchpoint;
- ``position``: 40% first, 40% last, 20% shared by those between (50/50 with two);
- ``time_decay``: weight 2^(-age / 7 days) by the touchpoint's age at conversion;
- ``markov``: a first-order Markov chain over the channel paths of every
  conversion (ending in a conversion state) and of every customer active in
  the period who did not convert (ending in a null state), consecutive repeats
  of a channel collapsed. A channel's removal effect is the share of
  conversion probability lost when the chain can no longer pass through it;
  each conversion's credit is split over the channels on its path in
  proportion to their removal effects.

Revenue is the conversion's ``revenue`` (else ``total``) property, in whatever
currency the caller normalized it to.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Literal

from services.journey.domain import JourneyError
from services.journey.domain.interactions import Interaction, by_customer
from services.journey.domain.journeys import as_number
from shared.normalize.canonical import CanonicalError, snake_case

Model = Literal["first", "last", "linear", "position", "time_decay", "markov"]
MODELS: tuple[Model, ...] = ("first", "last", "linear", "position", "time_decay", "markov")
HALF_LIFE = timedelta(days=7)
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


class AttributionError(JourneyError):
    """An attribution query is malformed; the message names the argument and how to fix it."""


@dataclass(frozen=True, slots=True)
class AttributionQuery:
    conversion: str
    start: datetime
    end: datetime
    model: Model = "linear"
    lookback: timedelta = timedelta(days=30)
    event: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise AttributionError(f"unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        if self.end <= self.start:
            raise AttributionError(
                f"`from` ({self.start.isoformat()}) must be before `to` ({self.end.isoformat()})"
            )
        if self.lookback < timedelta(0):
            raise AttributionError("`lookbackDays` must be zero or more")
        try:
            object.__setattr__(self, "event", snake_case(self.conversion))
        except CanonicalError as exc:
            raise AttributionError(f"`conversion`: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Conversion:
    customer_id: str
    event: Interaction
    touchpoints: tuple[Interaction, ...]
    revenue: Decimal | None


@dataclass(frozen=True, slots=True)
class ChannelCredit:
    channel: str
    conversions: float
    revenue: float | None


def conversions(query: AttributionQuery, interactions: Iterable[Interaction]) -> list[Conversion]:
    """Every conversion in the period with its touchpoints, oldest first per customer."""
    found = []
    for customer, items in by_customer(interactions).items():
        for n, item in enumerate(items):
            if not _converts(query, item):
                continue
            since = item.timestamp - query.lookback
            touches = tuple(t for t in items[: n + 1] if t.timestamp >= since)
            revenue = as_number(item.properties.get("revenue", item.properties.get("total")))
            found.append(Conversion(customer, item, touches, revenue))
    return found


def _converts(query: AttributionQuery, item: Interaction) -> bool:
    return (
        item.kind == "track"
        and item.event == query.event
        and query.start <= item.timestamp < query.end
    )


def weights(model: Model, conversion: Conversion) -> list[float]:
    """Each touchpoint's share of the conversion (not for ``markov``, which needs all paths)."""
    touches = conversion.touchpoints
    n = len(touches)
    if model == "first":
        return [1.0] + [0.0] * (n - 1)
    if model == "last":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear" or (model == "position" and n <= 2):
        return [1.0 / n] * n
    if model == "position":
        return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    if model == "time_decay":
        at = conversion.event.timestamp
        raw = [0.5 ** ((at - t.timestamp) / HALF_LIFE) for t in touches]
        total = sum(raw)
        return [w / total for w in raw]
    raise AttributionError(f"model {model!r} has no per-touchpoint weights; use attribute()")


def _collapse(channels: Iterable[str]) -> list[str]:
    path: list[str] = []
    for channel in channels:
        if not path or path[-1] != channel:
            path.append(channel)
    return path


def _conversion_probability(
    transitions: Mapping[str, Counter[str]], removed: str | None = None
) -> Fraction:
    """P(reaching the conversion state from start), exactly, by Gaussian elimination."""
    states = [s for s in transitions if s != removed]
    index = {s: i for i, s in enumerate(states)}
    size = len(states)
    matrix = [[Fraction(0)] * (size + 1) for _ in range(size)]
    for s in states:
        row, out = matrix[index[s]], transitions[s]
        total = sum(out.values())
        row[index[s]] += 1
        for target, count in out.items():
            p = Fraction(count, total)
            if target == CONVERSION:
                row[size] += p
            elif target in index:
                row[index[target]] -= p
    for col in range(size):
        pivot = next(r for r in range(col, size) if matrix[r][col] != 0)
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        head = matrix[col][col]
        matrix[col] = [v / head for v in matrix[col]]
        for r in range(size):
            if r != col and matrix[r][col] != 0:
                factor = matrix[r][col]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[col], strict=True)]
    return matrix[index[START]][size]


def removal_effects(paths: Sequence[tuple[Sequence[str], bool]]) -> dict[str, Fraction]:
    """Each channel's removal effect given channel paths and whether each converted."""
    transitions: dict[str, Counter[str]] = {START: Counter()}
    for channels, converted in paths:
        walk = [START, *_collapse(channels), CONVERSION if converted else NULL]
        for source, target in pairwise(walk):
            transitions.setdefault(source, Counter())[target] += 1
            if target not in (CONVERSION, NULL):
                transitions.setdefault(target, Counter())
    base = _conversion_probability(transitions)
    if base == 0:
        return {}
    channels = sorted(s for s in transitions if s != START)
    return {c: 1 - _conversion_probability(transitions, c) / base for c in channels}


def _markov_paths(
    query: AttributionQuery, interactions: Sequence[Interaction], found: Sequence[Conversion]
) -> list[tuple[list[str], bool]]:
    paths = [([t.channel for t in c.touchpoints], True) for c in found]
    converted = {c.customer_id for c in found}
    for customer, items in by_customer(interactions).items():
        if customer in converted:
            continue
        active = [t.channel for t in items if query.start <= t.timestamp < query.end]
        if active:
            paths.append((active, False))
    return paths


def attribute(query: AttributionQuery, interactions: Iterable[Interaction]) -> list[ChannelCredit]:
    """Credit per channel, most credited first."""
    items = list(interactions)
    found = conversions(query, items)
    effects = removal_effects(_markov_paths(query, items, found)) if query.model == "markov" else {}
    credit: defaultdict[str, float] = defaultdict(float)
    revenue: dict[str, float] = {}
    for conversion in found:
        shares: defaultdict[str, float] = defaultdict(float)
        if query.model == "markov":
            on_path = sorted({t.channel for t in conversion.touchpoints})
            total = sum(effects[c] for c in on_path)
            for c in on_path:
                shares[c] += float(effects[c] / total)
        else:
            for touch, weight in zip(
                conversion.touchpoints, weights(query.model, conversion), strict=True
            ):
                shares[touch.channel] += weight
        for channel, share in shares.items():
            if not share:
                continue  # a channel that earned nothing is not listed as earning 0
            credit[channel] += share
            if conversion.revenue is not None:
                revenue[channel] = revenue.get(channel, 0.0) + float(conversion.revenue) * share
    return [
        ChannelCredit(channel, credit[channel], revenue.get(channel))
        for channel in sorted(credit, key=lambda c: (-credit[c], c))
    ]
