"""Values as a data-subject report carries them: plain JSON, nothing lost in translation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.events import format_time


def json_ready(value: Any) -> Any:
    """Dataclasses as objects, times in RFC 3339, durations in seconds, sets sorted, and
    anything else (``Decimal`` money…) as its exact text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_ready(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [json_ready(v) for v in value]
        return sorted(items, key=str) if isinstance(value, frozenset | set) else items
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
