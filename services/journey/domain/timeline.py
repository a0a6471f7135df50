"""Timeline order and cursors: newest first by event time, then by id.

A cursor names the last touchpoint a page showed, so the next page starts
strictly after it even when touchpoints share a timestamp or new ones arrive
between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.journey.domain import InvalidCursorError, JourneyError
from shared.cursors import parse_time_id_cursor, time_id_cursor

MAX_PAGE = 100


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a touchpoint sits in the timeline order."""

    timestamp: datetime
    id: str

    def cursor(self) -> str:
        return time_id_cursor(self.timestamp, self.id)


def decode_cursor(cursor: str) -> Position:
    try:
        return Position(*parse_time_id_cursor(cursor))
    except ValueError as exc:
        raise InvalidCursorError(
            f"cursor {cursor!r} is not one this timeline issued; pass a `cursor` or "
            "`endCursor` from a previous page, or omit `after` to start from the newest"
        ) from exc


def page_size(first: int | None) -> int:
    """The requested page size, bounded to 0…``MAX_PAGE``."""
    if first is None:
        return 20
    if first < 0:
        raise JourneyError(f"`first` must be zero or more, got {first}; ask for 0 to {MAX_PAGE}")
    return min(first, MAX_PAGE)
