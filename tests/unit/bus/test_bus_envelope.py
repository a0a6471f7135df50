"""How CloudEvents travel as AMQP messages, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import aio_pika
import pytest
from aiormq.abc import DeliveredMessage
from pamqp import commands
from pamqp.common import FieldTable

from shared.bus.envelope import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    attempts_of,
    copy_message,
    decode,
    error_of,
    event_message,
    placeholder_event,
)
from shared.bus.topology import GroupNames, retry_arguments
from shared.errors import ValidationError
from shared.events import CONTENT_TYPE, CloudEvent


def delivered(message: aio_pika.Message, tag: int = 1) -> aio_pika.IncomingMessage:
    """What a consumer would receive for ``message`` (no broker needed)."""
    header: Any = SimpleNamespace(properties=message.properties)
    frame = DeliveredMessage(
        delivery=commands.Basic.Deliver(
            consumer_tag="t", delivery_tag=tag, redelivered=False, exchange="x", routing_key="k"
        ),
        header=header,
        body=message.body,
        channel=None,  # type: ignore[arg-type]
    )
    return aio_pika.IncomingMessage(frame, no_ack=True)


def sample() -> CloudEvent:
    return CloudEvent(
        type="io.threadline.ingest.track",
        source="threadline/profile",
        data={"event": "order_completed", "money": {"revenue": Decimal("12.50")}},
        time=datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
        subject="cust-9",
        partitionkey="anon-9",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def test_event_survives_the_trip_through_an_amqp_message() -> None:
    original = sample()
    message = event_message(original, original.headers())
    assert message.content_type == CONTENT_TYPE
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == original.id
    assert message.headers["ce-partitionkey"] == "anon-9"
    assert message.headers["traceparent"] == original.traceparent

    back = decode(delivered(message))
    assert back.id == original.id
    assert back.time == original.time
    assert back.subject == "cust-9"
    assert back.partitionkey == "anon-9"
    assert back.data == {"event": "order_completed", "money": {"revenue": "12.50"}}


def test_a_retry_copy_keeps_the_body_counts_attempts_and_drops_broker_history() -> None:
    original = sample()
    message = event_message(original, {**original.headers(), "x-death": FieldTable()})
    first = delivered(message)
    assert attempts_of(first) == 0
    copy = copy_message(first, set_headers={ATTEMPTS_HEADER: 2, ERROR_HEADER: "ValueError: x"})
    again = delivered(copy)
    assert again.body == message.body
    assert again.message_id == original.id
    assert attempts_of(again) == 2
    assert error_of(again) == "ValueError: x"
    assert "x-death" not in (again.headers or {})
    reset = delivered(copy_message(again, set_headers={}, drop=(ATTEMPTS_HEADER, ERROR_HEADER)))
    assert attempts_of(reset) == 0
    assert error_of(reset) == ""


def test_a_body_that_is_not_a_cloudevent_is_a_validation_error_and_gets_a_placeholder() -> None:
    message = aio_pika.Message(b'{"id": 1}', message_id="m-1")
    incoming = delivered(message)
    with pytest.raises(ValidationError) as caught:
        decode(incoming)
    placeholder = placeholder_event(incoming, caught.value)
    assert placeholder.id == "m-1"
    assert placeholder.data["body"] == '{"id": 1}'
    assert "source" in placeholder.data["reason"]


def test_group_names_and_retry_dead_letters_to_the_hash_exchange() -> None:
    names = GroupNames("threadline.events", "profile.ingest", 3)
    assert names.hash_exchange == "threadline.events.profile.ingest.hash"
    assert names.shard_queues == [
        "threadline.events.profile.ingest.shard.0",
        "threadline.events.profile.ingest.shard.1",
        "threadline.events.profile.ingest.shard.2",
    ]
    assert (names.retry, names.parked) == (
        "threadline.events.profile.ingest.retry",
        "threadline.events.profile.ingest.parked",
    )
    other = GroupNames("staging.events", "profile.ingest", 3)
    ours = {*names.shard_queues, names.retry, names.parked}
    assert ours.isdisjoint({*other.shard_queues, other.retry, other.parked})
    arguments = retry_arguments(names, 1500)
    assert arguments["x-message-ttl"] == 1500
    assert arguments["x-dead-letter-exchange"] == names.hash_exchange
