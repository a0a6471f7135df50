"""JSON logs, one object a line, carrying the current trace and span ids.

Every line is scrubbed of personal data before it is written: emails and
``+``-prefixed phone numbers in the message, its arguments, extra fields and
exception text are masked (:func:`shared.pii.scrub_text`), so an error that
quotes a stored identity (a duplicate key, a failed lookup) cannot put it in
the logs. Log ids (customer, event, message ids), not the values themselves.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.pii import scrub_text
from shared.telemetry import current_ids

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = current_ids()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self.service,
            "message": scrub_text(record.getMessage()),
        }
        if trace_id is not None:
            entry["trace_id"] = trace_id
            entry["span_id"] = span_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = scrubbed(value)
        if record.exc_info:
            entry["exception"] = scrub_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def scrubbed(value: Any) -> Any:
    """``value`` (an extra field of a log record) with emails and phone numbers masked."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub_text(str(value))


def setup_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (uvicorn's too) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
