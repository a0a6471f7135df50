"""Canonical normalization of collected messages (DESIGN.md §4), pure and deterministic.

- ``messages``: one Segment message → the normalized event the collector publishes;
  every bad field named in one error.
- ``fields``: the helpers ``messages`` applies per field (person traits, money,
  external ids) and the ``Problems`` collector.
- ``canonical``: single values in canonical form (RFC 3339 times, ISO 4217
  currencies, decimal money, E.164 phones, emails, snake_case names, channels).
- ``currencies``: the ISO 4217 codes in use.

The public entry points are re-exported here, so callers write
``from shared.normalize import normalize``.
"""

from shared.normalize.messages import (
    KINDS,
    NormalizedEvent,
    Receipt,
    event_key,
    message_id_of,
    normalize,
    source_id,
)

__all__ = [
    "KINDS",
    "NormalizedEvent",
    "Receipt",
    "event_key",
    "message_id_of",
    "normalize",
    "source_id",
]
