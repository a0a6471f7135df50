"""What downstream cannot hold is refused at the door, naming the field and the fix.

Numbers beyond 64 bits, empty or NUL-bearing keys, nesting past MAX_DEPTH,
event times outside the accepted range, and identifiers of the wrong type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared.errors import ValidationError
from shared.normalize import Receipt, normalize
from shared.normalize.fields import MAX_DEPTH

RECEIVED = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC)
RECEIPT = Receipt(received_at=RECEIVED, source="src12345")


def track(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "m-1",
        "userId": "u-1",
        "event": "Order Completed",
        "timestamp": "2024-05-01T12:00:00Z",
        **fields,
    }


def problems(message: Any, receipt: Receipt = RECEIPT, **options: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        normalize(message, receipt, **options)
    return caught.value.problems


def nested(levels: int) -> Any:
    """A value that adds ``levels`` levels of nesting (objects and arrays alternating)."""
    value: Any = "leaf"
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("number", [2**63, 2**64 - 1])
def test_an_integer_beyond_64_bits_is_refused_naming_its_path(number: int) -> None:
    found = problems(track(properties={"items": [1, {"count": number}]}), path="batch[2].")
    assert list(found) == ["batch[2].properties.items[1].count"]
    assert "64-bit" in found["batch[2].properties.items[1].count"]
    assert "send it as a string" in found["batch[2].properties.items[1].count"]


def test_the_64_bit_bounds_themselves_are_accepted() -> None:
    event = normalize(track(properties={"high": 2**63 - 1, "low": -(2**63)}), RECEIPT)
    assert event["properties"] == {"high": 2**63 - 1, "low": -(2**63)}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (track(properties={"a\x00b": 1}), "properties"),
        (track(context={"page": {"x\x00": "y"}}), "context.page"),
        ({"type": "identify", "userId": "u", "traits": {"\x00": "v"}}, "traits"),
    ],
)
def test_a_key_with_a_nul_character_is_refused_naming_its_object(
    message: dict[str, Any], field: str
) -> None:
    found = problems(message)
    assert list(found) == [field]
    assert "NUL" in found[field]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "identify", "userId": "u", "traits": {"": "gold"}}, "traits"),
        (track(context={"traits": {"": "gold"}}), "context.traits"),
        (
            track(context={"consent": {"categoryPreferences": {"": True}}}),
            "context.consent.categoryPreferences",
        ),
    ],
)
def test_an_empty_key_is_refused_naming_its_object(message: dict[str, Any], field: str) -> None:
    found = problems(message)
    assert list(found) == [field]
    assert "empty key" in found[field]


def test_a_bad_key_in_the_batch_context_is_reported_for_each_event() -> None:
    receipt = Receipt(received_at=RECEIVED, source="src", context={"ip\x00": "1.2.3.4"})
    assert "NUL" in problems(track(), receipt, path="batch[0].")["context"]


def test_nesting_up_to_the_limit_is_accepted_and_one_level_more_is_refused() -> None:
    # The message is level 1 and properties level 2.
    deepest = track(properties={"v": nested(MAX_DEPTH - 2)})
    orjson.dumps(normalize(deepest, RECEIPT))
    found = problems(track(properties={"v": nested(MAX_DEPTH - 1)}))
    [(field, reason)] = found.items()
    assert field.startswith("properties.v")
    assert f"deeper than {MAX_DEPTH} levels" in reason


@pytest.mark.parametrize("levels", [253, 300, 1000])
def test_nesting_the_serializer_cannot_write_is_a_named_problem_not_a_crash(levels: int) -> None:
    message = track(properties={"v": nested(levels)})
    del message["messageId"]  # the derived id must not serialize the message first
    found = problems(message)
    assert any(f"deeper than {MAX_DEPTH} levels" in reason for reason in found.values())


@pytest.mark.parametrize(
    ("stamp", "field"),
    [
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "1969-12-31T23:59:59Z"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "timestamp"),
        ({"originalTimestamp": "2024-05-03T12:00:00Z"}, "originalTimestamp"),
        ({"timestamp": -1}, "timestamp"),
    ],
)
def test_an_event_time_outside_the_accepted_range_is_refused(
    stamp: dict[str, Any], field: str
) -> None:
    found = problems(track(**stamp))
    assert list(found) == [field]
    assert "outside the accepted range 1970-01-01T00:00:00.000Z" in found[field]


def test_a_client_clock_set_to_year_one_is_corrected_into_range() -> None:
    # The interval between recording and sending is right even when the clock is not.
    event = normalize(
        track(timestamp="0001-01-01T00:00:00Z", sentAt="0001-01-01T00:00:05Z"), RECEIPT
    )
    assert event["timestamp"] == "2024-05-01T12:00:05.000Z"


def test_the_range_edges_are_accepted() -> None:
    assert normalize(track(timestamp="1970-01-01T00:00:00Z"), RECEIPT)["timestamp"] == (
        "1970-01-01T00:00:00.000Z"
    )
    assert normalize(track(timestamp="2024-05-02T12:00:10Z"), RECEIPT)["timestamp"] == (
        "2024-05-02T12:00:10.000Z"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "must be a string (or an integer), not a boolean"),
        (1.5, "must be a string (or an integer), not a number with a fraction"),
        ({"id": 1}, "must be a string (or an integer), not an object"),
        (["u"], "must be a string (or an integer), not an array"),
        ("u" * 513, "is 513 characters long; at most 512 are allowed"),
    ],
)
@pytest.mark.parametrize("field", ["userId", "anonymousId"])
def test_an_identifier_of_the_wrong_type_or_length_is_named_as_such(
    field: str, value: Any, reason: str
) -> None:
    message = {"type": "page", field: value}
    assert problems(message) == {field: reason}


def test_no_identifier_at_all_still_asks_for_one() -> None:
    assert problems({"type": "page"}) == {"userId": "either userId or anonymousId is required"}
