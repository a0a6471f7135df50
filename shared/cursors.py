"""Opaque page cursors over a (time, id) order, as the services' connections hand them out.

A cursor is the URL-safe base64 of ``<RFC 3339 time>|<id>`` without padding: opaque to
clients, stable across processes, and ordered like the pages it continues.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from shared.events import format_time, parse_time


def time_id_cursor(at: datetime, ident: str) -> str:
    raw = f"{format_time(at)}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_time_id_cursor(cursor: str) -> tuple[datetime, str]:
    """The time and id a cursor names; ``ValueError`` for one not made by :func:`time_id_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a cursor: {exc}") from exc
    when, sep, ident = raw.partition("|")
    if not sep or not ident:
        raise ValueError("not a cursor: no separator")
    return parse_time(when), ident
