"""Worker and API logs never carry raw emails or phone numbers, whatever logs them."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pymongo.errors import BulkWriteError

from shared.errors import StorageError
from shared.logging import JsonFormatter
from shared.mongo import storage_errors


def logged(emit: Callable[[logging.Logger], None]) -> list[dict[str, Any]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("profile"))
    logger = logging.getLogger("threadline.test.pii")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_emails_and_phones_in_log_messages_arguments_and_extras_are_masked() -> None:
    error = StorageError(
        "saving customers failed: E11000 duplicate key error "
        'dup key: { _id: "email:jo@example.com" }'
    )

    def emit(logger: logging.Logger) -> None:
        logger.warning("consumer %s: handler failed: %s", "profile.ingest", error)
        logger.info(
            "identified",
            extra={"identity": "jo@example.com", "traits": {"phone": "+447911123489"}},
        )

    first, second = logged(emit)
    assert "jo@example.com" not in first["message"]
    assert 'dup key: { _id: "email:j***@example.com" }' in first["message"]
    assert second["identity"] == "j***@example.com"
    assert second["traits"] == {"phone": "+44********89"}


def test_exceptions_in_logs_are_masked_too() -> None:
    def emit(logger: logging.Logger) -> None:
        try:
            raise StorageError("no customer with email jo@example.com or phone +447911123489")
        except StorageError:
            logger.exception("lookup failed")

    [entry] = logged(emit)
    assert "jo@example.com" not in entry["exception"]
    assert "+447911123489" not in entry["exception"]
    assert "j***@example.com" in entry["exception"]


async def test_failed_bulk_writes_are_reported_without_the_documents_they_carried() -> None:
    details = {
        "writeErrors": [
            {
                "index": 0,
                "code": 121,
                "errmsg": "Document failed validation",
                "op": {"_id": "c1", "traits": {"surname": "Bloggs", "email": "jo@example.com"}},
            }
        ],
        "nInserted": 0,
    }

    with pytest.raises(StorageError) as caught:
        async with storage_errors("saving customers and events"):
            raise BulkWriteError(details)

    message = str(caught.value)
    assert "Bloggs" not in message
    assert "jo@example.com" not in message
    assert message == (
        "saving customers and events failed: 1 write error(s): "
        "code 121 at index 0: Document failed validation"
    )
