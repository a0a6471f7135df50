"""Consent per purpose and per contact channel: granted, denied or revoked, latest wins.

Purposes are ``analytics``, ``marketing``, ``personalization`` and ``sale_sharing``
(other category names a consent manager sends are kept as sent, canonicalized to
snake_case); channels are ``email``, ``sms``, ``push`` and ``phone``. A
channel-level statement ("may we contact them by email") is keyed by its channel
and names the purpose it was given for (``marketing`` unless said).

Statements come from three places: Segment's ``context.consent.categoryPreferences``
(purpose → true/false), a ``Consent Preference Updated`` track (its properties are
either one statement ``{purpose, channel?, status}`` or ``{categoryPreferences,
channels}`` maps of purpose/channel → true/false/status), and the ``setConsent``
mutation. ``true`` is granted and ``false`` denied; ``revoked`` (withdrawn after
being given) is only what a statement says, never inferred, so the state does not
depend on the order statements arrive in. The current state of a key is its
statement with the latest (event time, event id): :func:`merge_consents` and the
join :func:`fold_consents` are order-independent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

Status = Literal["granted", "denied", "revoked"]
STATUSES: tuple[Status, ...] = get_args(Status)
PURPOSES = ("analytics", "marketing", "personalization", "sale_sharing")
CHANNELS = ("email", "sms", "push", "phone")
CHANNEL_PURPOSE = "marketing"
PREFERENCES_EVENT = "consent_preference_updated"
_NOT_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ConsentState:
    """One consent statement; the latest per :attr:`key` is the customer's current state."""

    purpose: str
    status: Status
    updated_at: datetime
    source: str
    event_id: str = ""
    channel: str | None = None

    @property
    def key(self) -> str:
        return f"channel:{self.channel}" if self.channel else self.purpose

    @property
    def granted(self) -> bool:
        return self.status == "granted"

    def order(self) -> tuple[datetime, str, str, str, str]:
        """A total order over statements of one key: time, then event id, then the rest,
        so the winner never depends on the order statements arrive in."""
        return (self.updated_at, self.event_id, self.status, self.purpose, self.source)


@dataclass(frozen=True, slots=True)
class ConsentChanged:
    """A key's status moved (or was first stated): what ``consent.changed`` announces."""

    current: ConsentState
    previous: ConsentState | None


def canonical_purpose(name: str) -> str:
    """``Sale/Sharing`` → ``sale_sharing``: the form purposes are stored and compared in."""
    return _NOT_NAME.sub("_", name.strip().lower()).strip("_")


def status_of(value: Any) -> Status | None:
    if isinstance(value, bool):
        return "granted" if value else "denied"
    if isinstance(value, str) and value.strip().lower() in STATUSES:
        status: Status = value.strip().lower()  # type: ignore[assignment]
        return status
    return None


def merge_consents(
    current: Mapping[str, ConsentState], statements: Iterable[ConsentState]
) -> tuple[dict[str, ConsentState], dict[str, ConsentState]]:
    """Apply statements; a key changes only for a later one. Returns (merged, changed keys)."""
    merged = dict(current)
    changed: dict[str, ConsentState] = {}
    for statement in statements:
        existing = merged.get(statement.key)
        if existing is None or statement.order() > existing.order():
            merged[statement.key] = changed[statement.key] = statement
    return merged, changed


def fold_consents(
    a: Mapping[str, ConsentState], b: Mapping[str, ConsentState]
) -> dict[str, ConsentState]:
    """The join of two customers' consents (for merges): per key the latest statement."""
    return merge_consents(a, b.values())[0]


def status_changes(
    before: Mapping[str, ConsentState], changed: Mapping[str, ConsentState]
) -> list[ConsentChanged]:
    """The changed keys whose status differs from before (a new key always counts)."""
    return [
        ConsentChanged(current, before.get(key))
        for key, current in changed.items()
        if key not in before or before[key].status != current.status
    ]


def consent_summary(consents: Mapping[str, ConsentState]) -> dict[str, dict[str, str]]:
    """The state resolved events carry: ``consent`` (per purpose), ``consentChannels``."""
    purposes = {s.purpose: s.status for s in consents.values() if s.channel is None}
    channels = {s.channel: s.status for s in consents.values() if s.channel is not None}
    return {
        "consent": dict(sorted(purposes.items())),
        "consentChannels": dict(sorted(channels.items())),
    }


def event_statements(
    data: Mapping[str, Any], *, at: datetime, event_id: str, source: str
) -> list[ConsentState]:
    """The statements a normalized event makes (``context.consent`` and the preferences track)."""
    statements: list[ConsentState] = []
    consent = data.get("consent")
    if isinstance(consent, Mapping):
        preferences = consent.get("categoryPreferences", consent)
        statements += _purposes(preferences, at=at, event_id=event_id, source=source)
    properties = data.get("properties")
    if data.get("event") == PREFERENCES_EVENT and isinstance(properties, Mapping):
        statements += _preferences_track(properties, at=at, event_id=event_id, source=source)
    # One statement per key and event: the track's own statement over context.consent.
    return list({s.key: s for s in statements}.values())


def _purposes(preferences: Any, *, at: datetime, event_id: str, source: str) -> list[ConsentState]:
    if not isinstance(preferences, Mapping):
        return []
    found = []
    for name, value in preferences.items():
        purpose, status = canonical_purpose(str(name)), status_of(value)
        if purpose and status is not None:
            found.append(ConsentState(purpose, status, at, source, event_id))
    return found


def _preferences_track(
    properties: Mapping[str, Any], *, at: datetime, event_id: str, source: str
) -> list[ConsentState]:
    said_by = str(properties.get("source") or source)
    purpose = canonical_purpose(str(properties.get("purpose") or ""))
    channel = str(properties.get("channel") or "").strip().lower() or None
    status = status_of(properties.get("status", properties.get("granted")))
    found: list[ConsentState] = []
    if status is not None and channel in CHANNELS:
        found.append(
            ConsentState(purpose or CHANNEL_PURPOSE, status, at, said_by, event_id, channel)
        )
    elif status is not None and purpose:
        found.append(ConsentState(purpose, status, at, said_by, event_id))
    preferences = properties.get("categoryPreferences", properties.get("preferences"))
    found += _purposes(preferences, at=at, event_id=event_id, source=said_by)
    channels = properties.get("channels")
    if isinstance(channels, Mapping):
        for name, value in channels.items():
            channel_status = status_of(value)
            if str(name).lower() in CHANNELS and channel_status is not None:
                found.append(
                    ConsentState(
                        purpose or CHANNEL_PURPOSE,
                        channel_status,
                        at,
                        said_by,
                        event_id,
                        str(name).lower(),
                    )
                )
    return found
