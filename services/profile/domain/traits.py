"""Trait and consent merging with provenance: the value with the latest event time wins.

Events arrive late and out of order (offline mobile queues, store batches), so
a value is replaced only by one observed at a later event time. Ties are broken
by a total order over (time, source, channel, value), which makes the merged
result independent of the order the events were applied in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class TraitValue:
    """A trait's current value and where it came from."""

    value: Any
    source: str
    channel: str
    updated_at: datetime

    def order_key(self) -> tuple[datetime, str, str, bytes]:
        return (self.updated_at, self.source, self.channel, _canonical(self.value))


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Whether the customer granted a purpose (e.g. ``analytics``), as of when, said by whom."""

    purpose: str
    granted: bool
    updated_at: datetime
    source: str

    def order_key(self) -> tuple[datetime, str, bool]:
        return (self.updated_at, self.source, self.granted)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


def merge_traits(
    current: Mapping[str, TraitValue],
    incoming: Mapping[str, Any],
    *,
    source: str,
    channel: str,
    at: datetime,
) -> tuple[dict[str, TraitValue], dict[str, TraitValue]]:
    """Apply ``incoming`` traits observed at ``at``; returns (merged traits, changed traits)."""
    merged = dict(current)
    changed: dict[str, TraitValue] = {}
    for name, value in incoming.items():
        candidate = TraitValue(value=value, source=source, channel=channel, updated_at=at)
        existing = merged.get(name)
        if existing is None or candidate.order_key() > existing.order_key():
            merged[name] = candidate
            changed[name] = candidate
    return merged, changed


def merge_consents(
    current: Mapping[str, ConsentState], incoming: Mapping[str, ConsentState]
) -> tuple[dict[str, ConsentState], dict[str, ConsentState]]:
    """Apply consent statements; a purpose changes only for a later statement."""
    merged = dict(current)
    changed: dict[str, ConsentState] = {}
    for purpose, candidate in incoming.items():
        existing = merged.get(purpose)
        if existing is None or candidate.order_key() > existing.order_key():
            merged[purpose] = candidate
            changed[purpose] = candidate
    return merged, changed


def consent_statements(
    consent: Mapping[str, Any] | None, *, source: str, at: datetime
) -> dict[str, ConsentState]:
    """Read Segment's ``context.consent`` (``categoryPreferences``: purpose → bool)."""
    if not consent:
        return {}
    preferences = consent.get("categoryPreferences", consent)
    if not isinstance(preferences, Mapping):
        return {}
    return {
        str(purpose): ConsentState(str(purpose), granted, at, source)
        for purpose, granted in preferences.items()
        if isinstance(granted, bool)
    }
