"""Omnichannel Integration Index: how well each channel is joined up with the others, 0-100.

``value`` = Σ channel scores / number of channels (DESIGN.md §5), over the
channels with at least one touch in the period; ``target`` = 80. A channel's
score is 100 × the weighted mean of the components it has data for (weights
shared out over the defined ones when one is undefined):

- ``identityCoverage`` = touches on the channel resolved to a known customer
  (an identified person, not only an anonymous or device id) / touches on it;
- ``continuity`` = handoffs entering or leaving the channel that keep context
  / handoffs entering or leaving it. A handoff is two consecutive touches of
  one customer on different channels at most ``handoff_window`` apart; it keeps
  context when the customer is known on both sides, so the second channel can
  see what happened on the first;
- ``serviceParity`` = min(1, cross-channel average resolution hours / the
  channel's average resolution hours): 1 when the channel resolves as fast as
  the average or faster, less the slower it is; undefined without tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.scoring.domain import ScoringError

TARGET = 80.0
COMPONENTS = ("identityCoverage", "continuity", "serviceParity")


class IntegrationIndexError(ScoringError):
    """The index's configuration is inconsistent."""


@dataclass(frozen=True, slots=True)
class Touch:
    """One event as the index sees it: whose, where, when, and whether the person was known."""

    event_id: str
    customer_id: str
    channel: str
    at: datetime
    identified: bool


@dataclass(frozen=True, slots=True)
class IndexSettings:
    handoff_window: timedelta = timedelta(days=7)
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 1 / 3))

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(COMPONENTS)
        if unknown or any(not w > 0 for w in self.weights.values()):
            raise IntegrationIndexError(
                f"integration weights must be positive and name only {', '.join(COMPONENTS)}; "
                f"got {dict(self.weights)}"
            )


@dataclass(frozen=True, slots=True)
class ChannelIntegration:
    channel: str
    score: float
    components: Mapping[str, float | int | None]


@dataclass(frozen=True, slots=True)
class IntegrationIndex:
    value: float
    target: float
    channels: tuple[ChannelIntegration, ...]


def integration_index(
    touches: Iterable[Touch],
    resolution_hours: Mapping[str, float | None] | None = None,
    overall_resolution_hours: float | None = None,
    settings: IndexSettings | None = None,
) -> IntegrationIndex:
    """The index over ``touches`` (one period's, duplicates by event id counted once).

    ``resolution_hours`` are per channel and ``overall_resolution_hours`` across
    channels, as ``KpiReport.avg_resolution_hours`` gives them.
    """
    config = settings or IndexSettings()
    unique = sorted({t.event_id: t for t in touches}.values(), key=lambda t: (t.at, t.event_id))
    touched: dict[str, int] = {}
    known: dict[str, int] = {}
    handoffs: dict[str, int] = {}
    kept: dict[str, int] = {}
    last: dict[str, Touch] = {}
    for touch in unique:
        touched[touch.channel] = touched.get(touch.channel, 0) + 1
        known[touch.channel] = known.get(touch.channel, 0) + int(touch.identified)
        before = last.get(touch.customer_id)
        last[touch.customer_id] = touch
        if before is None or before.channel == touch.channel:
            continue
        if touch.at - before.at > config.handoff_window:
            continue
        keeps = before.identified and touch.identified
        for channel in (before.channel, touch.channel):
            handoffs[channel] = handoffs.get(channel, 0) + 1
            kept[channel] = kept.get(channel, 0) + int(keeps)
    hours = resolution_hours or {}
    channels = [
        channel_integration(
            channel,
            touches=touched[channel],
            identified=known[channel],
            handoffs=handoffs.get(channel, 0),
            kept=kept.get(channel, 0),
            channel_hours=hours.get(channel),
            overall_hours=overall_resolution_hours,
            weights=config.weights,
        )
        for channel in sorted(touched)
    ]
    value = sum(c.score for c in channels) / len(channels) if channels else 0.0
    return IntegrationIndex(value=value, target=TARGET, channels=tuple(channels))


def channel_integration(
    channel: str,
    *,
    touches: int,
    identified: int,
    handoffs: int,
    kept: int,
    channel_hours: float | None,
    overall_hours: float | None,
    weights: Mapping[str, float],
) -> ChannelIntegration:
    """One channel's score from its counts (the same rule whether counted here or stored)."""
    parts: dict[str, float | None] = {
        "identityCoverage": identified / touches,
        "continuity": kept / handoffs if handoffs else None,
        "serviceParity": _parity(channel_hours, overall_hours),
    }
    return ChannelIntegration(
        channel=channel,
        score=_score(parts, weights),
        components={
            **parts,
            "touches": touches,
            "identifiedTouches": identified,
            "handoffs": handoffs,
            "handoffsWithContext": kept,
        },
    )


def _parity(channel_hours: float | None, overall_hours: float | None) -> float | None:
    if channel_hours is None or overall_hours is None:
        return None
    if channel_hours <= 0:
        return 1.0
    return min(1.0, overall_hours / channel_hours)


def _score(parts: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    defined = {name: value for name, value in parts.items() if value is not None}
    total = sum(weights.get(name, 0.0) for name in defined)
    if not total:
        return 0.0
    return 100 * sum(weights.get(name, 0.0) * value for name, value in defined.items()) / total
