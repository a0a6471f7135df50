"""Paths: how customers move between touchpoints or channels.

A path is read per customer in event-time order. Sessions split it by
inactivity: an interaction ``session_gap`` or more after the previous one
starts a new session (30 minutes by default, as web analytics does). Pass
``session_gap=None`` to read a customer's whole timeline as one path, which is
what cross-channel paths need (the web on Monday, the store on Saturday).
Nodes are event names (snake_case) or channels; any ``Node`` function works.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from services.journey.domain import JourneyError
from services.journey.domain.interactions import Interaction, by_customer

DEFAULT_SESSION_GAP = timedelta(minutes=30)
Node = Callable[[Interaction], str]


def by_event(item: Interaction) -> str:
    return item.event


def by_channel(item: Interaction) -> str:
    return item.channel


@dataclass(frozen=True, slots=True)
class Transition:
    source: str
    target: str
    count: int


@dataclass(frozen=True, slots=True)
class PathCount:
    path: tuple[str, ...]
    count: int


def sessions(
    items: Sequence[Interaction], session_gap: timedelta | None = DEFAULT_SESSION_GAP
) -> tuple[tuple[Interaction, ...], ...]:
    """One customer's timeline cut wherever ``session_gap`` or more passed without activity."""
    if session_gap is not None and session_gap <= timedelta(0):
        raise JourneyError("`session_gap` must be positive; the default is 30 minutes")
    cut: list[list[Interaction]] = []
    for item in items:
        if cut and (session_gap is None or item.timestamp - cut[-1][-1].timestamp < session_gap):
            cut[-1].append(item)
        else:
            cut.append([item])
    return tuple(tuple(session) for session in cut)


def _walks(
    interactions: Iterable[Interaction],
    node: Node,
    session_gap: timedelta | None,
    collapse_repeats: bool,
) -> list[list[str]]:
    walks = []
    for items in by_customer(interactions).values():
        for session in sessions(items, session_gap):
            labels = [node(item) for item in session]
            if collapse_repeats:
                labels = [
                    label for i, label in enumerate(labels) if not i or labels[i - 1] != label
                ]
            walks.append(labels)
    return walks


def _top(counts: Counter[tuple[str, ...]], top: int | None) -> list[tuple[tuple[str, ...], int]]:
    if top is not None and top < 0:
        raise JourneyError(f"`top` must be zero or more, got {top}")
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return ranked if top is None else ranked[:top]


def transitions(
    interactions: Iterable[Interaction],
    node: Node = by_event,
    *,
    session_gap: timedelta | None = DEFAULT_SESSION_GAP,
    collapse_repeats: bool = False,
    top: int | None = 10,
) -> tuple[Transition, ...]:
    """The most frequent moves between consecutive nodes, most frequent first (ties by name)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for walk in _walks(interactions, node, session_gap, collapse_repeats):
        counts.update(pairwise(walk))
    return tuple(Transition(pair[0], pair[1], n) for pair, n in _top(counts, top))


def paths_into(
    interactions: Iterable[Interaction],
    step: str,
    node: Node = by_event,
    *,
    depth: int = 3,
    session_gap: timedelta | None = DEFAULT_SESSION_GAP,
    collapse_repeats: bool = False,
    top: int | None = 10,
) -> tuple[PathCount, ...]:
    """Per occurrence of ``step``: the up to ``depth`` nodes before it in its session."""
    return _around(interactions, step, node, depth, session_gap, collapse_repeats, top, before=True)


def paths_out_of(
    interactions: Iterable[Interaction],
    step: str,
    node: Node = by_event,
    *,
    depth: int = 3,
    session_gap: timedelta | None = DEFAULT_SESSION_GAP,
    collapse_repeats: bool = False,
    top: int | None = 10,
) -> tuple[PathCount, ...]:
    """Per occurrence of ``step``: the up to ``depth`` nodes after it in its session."""
    return _around(
        interactions, step, node, depth, session_gap, collapse_repeats, top, before=False
    )


def _around(
    interactions: Iterable[Interaction],
    step: str,
    node: Node,
    depth: int,
    session_gap: timedelta | None,
    collapse_repeats: bool,
    top: int | None,
    *,
    before: bool,
) -> tuple[PathCount, ...]:
    if depth < 1:
        raise JourneyError(f"`depth` must be 1 or more, got {depth}")
    counts: Counter[tuple[str, ...]] = Counter()
    for walk in _walks(interactions, node, session_gap, collapse_repeats):
        for i, label in enumerate(walk):
            if label == step:
                counts[
                    tuple(walk[max(i - depth, 0) : i] if before else walk[i + 1 : i + 1 + depth])
                ] += 1
    return tuple(PathCount(path, n) for path, n in _top(counts, top))
