"""One shard's consumer: batches deliveries in order, dedupes, handles, retries, parks, acks.

Envelopes are opened first when the group has an ``unpack`` function: every
carried event is deduplicated by its own id and, when it fails, retried and
parked as a message of its own (see :mod:`shared.bus.ports`).

A shard queue has one active consumer (single-active-consumer), its own
channel (so ``ack(multiple=True)`` only ever covers this shard's deliveries)
and this loop, which handles one batch at a time: order within the shard holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import ChannelInvalidStateError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from shared.bus.envelope import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    PARKED_AT_HEADER,
    attempts_of,
    carried_message,
    copy_message,
    decode,
    describe_error,
)
from shared.bus.metrics import BATCH_SECONDS, BATCH_SIZE, CONSUMED
from shared.bus.ports import BatchHandler, Inbox, Unpack
from shared.errors import ValidationError
from shared.events import CloudEvent, format_time
from shared.telemetry import extract_context

log = logging.getLogger("threadline.bus")
_tracer = trace.get_tracer("threadline.bus")

Send = Callable[[str, str, aio_pika.Message], Awaitable[None]]
"""Publish one message to (exchange, routing key) and return once the broker confirmed it."""


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    consumer: str
    batch_size: int
    linger_s: float
    max_attempts: int
    retry_queue: str
    parked_queue: str


class ShardConsumer:
    """Consumes one shard queue on its own channel and runs the handler over batches."""

    def __init__(
        self,
        *,
        channel: AbstractChannel,
        queue: AbstractQueue,
        policy: BatchPolicy,
        handler: BatchHandler,
        inbox: Inbox,
        send: Send,
        unpack: Unpack | None = None,
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._policy = policy
        self._handler = handler
        self._unpack = unpack
        self._inbox = inbox
        self._send = send
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._tag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()
        self._stopping = False
        self._last_error = ""

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._deliver)
        self._task = asyncio.create_task(self._run(), name=f"bus:{self._queue.name}")

    async def stop(self) -> None:
        """Stop taking deliveries, let the batch in flight finish, then stop the loop."""
        self._stopping = True
        if self._tag is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.cancel(self._tag), timeout=5)
        async with self._busy:  # waits for the batch being handled
            if self._task is not None:
                self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait(message)

    async def _run(self) -> None:
        while not self._stopping:
            batch = await self._next_batch()
            async with self._busy:
                await self._process_until_done(batch)

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        batch = [await self._buffer.get()]
        deadline = time.monotonic() + self._policy.linger_s
        while len(batch) < self._policy.batch_size:
            try:
                batch.append(self._buffer.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._buffer.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _process_until_done(self, batch: list[AbstractIncomingMessage]) -> None:
        delay = 0.2
        while True:
            live = [message for message in batch if _channel_open(message)]
            if not live:
                return  # the broker redelivers them on the new channel
            try:
                await self._process(live)
                return
            except Exception as exc:
                # The inbox or the broker failed (not the handler): keep the
                # batch unacked and try again, so nothing is lost or reordered.
                log.warning(
                    "consumer %s: batch of %d failed, retrying in %.1fs: %s",
                    self._policy.consumer,
                    len(live),
                    delay,
                    describe_error(exc),
                )
                if self._stopping:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _process(self, batch: list[AbstractIncomingMessage]) -> None:
        policy = self._policy
        BATCH_SIZE.labels(policy.consumer).observe(len(batch))
        units: list[_Unit] = []
        spans: list[Span] = []
        try:
            for message in batch:
                try:
                    event = decode(message)
                except ValidationError as exc:
                    await self._park(message, f"undecodable message: {exc}", attempts_of(message))
                    continue
                span = _consumer_span(policy.consumer, message, event)
                spans.append(span)
                if self._unpack is None:
                    units.append(_Unit(message, event, span))
                    continue
                try:
                    carried = self._unpack(event)
                except ValidationError as exc:
                    # A malformed envelope: retried, then parked whole, like a failing event.
                    await self._retry_or_park(_Unit(message, event, span), describe_error(exc))
                    continue
                alone = len(carried) == 1 and carried[0].id == event.id
                units.extend(_Unit(message, member, span, carried=not alone) for member in carried)
            await self._handle_fresh(units)
        finally:
            for span in spans:
                span.end()
        await _ack_through(batch[-1])

    async def _handle_fresh(self, units: list[_Unit]) -> None:
        fresh = await self._unseen(units)
        if not fresh:
            return
        if await self._call(fresh):
            await self._processed(fresh)
            return
        if len(fresh) == 1:
            await self._retry_or_park(fresh[0], self._last_error)
            return
        # Isolate the poison: the others go through one by one, in order.
        for unit in fresh:
            if await self._call([unit]):
                await self._processed([unit])
            else:
                await self._retry_or_park(unit, self._last_error)

    async def _unseen(self, units: list[_Unit]) -> list[_Unit]:
        """The units whose events this consumer has not handled yet, each event once."""
        if not units:
            return []
        consumer = self._policy.consumer
        unseen = await self._inbox.unseen(consumer, [unit.event.id for unit in units])
        fresh: list[_Unit] = []
        taken: set[str] = set()
        for unit in units:
            if unit.event.id in unseen and unit.event.id not in taken:
                taken.add(unit.event.id)
                fresh.append(unit)
            elif not unit.carried:
                unit.span.set_attribute("threadline.outcome", "duplicate")
        duplicates = len(units) - len(fresh)
        if duplicates:
            CONSUMED.labels(consumer, "duplicate").inc(duplicates)
        return fresh

    async def _processed(self, units: Sequence[_Unit]) -> None:
        """Record the units as handled, so redeliveries are recognised as duplicates."""
        consumer = self._policy.consumer
        await self._inbox.mark(consumer, [unit.event.id for unit in units])
        CONSUMED.labels(consumer, "processed").inc(len(units))

    async def _call(self, units: Sequence[_Unit]) -> bool:
        """Run the handler under the right span; False (and the error kept) when it raised."""
        consumer = self._policy.consumer
        spans = list({id(unit.span): unit.span for unit in units}.values())
        if len(spans) == 1:
            span = spans[0]
        else:
            span = _tracer.start_span(
                f"{consumer} process batch",
                kind=SpanKind.INTERNAL,
                links=[Link(s.get_span_context()) for s in spans],
                attributes={"messaging.batch.message_count": len(units)},
            )
        started = time.perf_counter()
        try:
            with trace.use_span(span, end_on_exit=len(spans) > 1):
                await self._handler([_traced(unit.event, unit.span) for unit in units])
        except Exception as exc:
            self._last_error = describe_error(exc)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, self._last_error))
            log.warning("consumer %s: handler failed: %s", consumer, self._last_error)
            return False
        finally:
            BATCH_SECONDS.labels(consumer).observe(time.perf_counter() - started)
        return True

    async def _retry_or_park(self, unit: _Unit, error: str) -> None:
        attempts = attempts_of(unit.message) + 1
        if attempts >= self._policy.max_attempts:
            if not unit.carried:
                unit.span.set_attribute("threadline.outcome", "parked")
            await self._park(
                unit.message, error, attempts, carried=unit.event if unit.carried else None
            )
            return
        if not unit.carried:
            unit.span.set_attribute("threadline.outcome", "retried")
        headers = {ATTEMPTS_HEADER: attempts, ERROR_HEADER: error}
        if unit.carried:
            copy = carried_message(unit.message, unit.event, set_headers=headers)
        else:
            copy = copy_message(unit.message, set_headers=headers)
        await self._send("", self._policy.retry_queue, copy)
        CONSUMED.labels(self._policy.consumer, "retried").inc()

    async def _park(
        self,
        message: AbstractIncomingMessage,
        error: str,
        attempts: int,
        *,
        carried: CloudEvent | None = None,
    ) -> None:
        """Park ``message`` (or, when given, the ``carried`` event alone) with its error."""
        log.error(
            "consumer %s: parking message %s after %d attempt(s): %s",
            self._policy.consumer,
            carried.id if carried is not None else message.message_id,
            attempts,
            error,
        )
        headers = {
            ATTEMPTS_HEADER: attempts,
            ERROR_HEADER: error,
            PARKED_AT_HEADER: format_time(datetime.now(UTC)),
        }
        if carried is not None:
            copy = carried_message(message, carried, set_headers=headers)
        else:
            copy = copy_message(message, set_headers=headers)
        await self._send("", self._policy.parked_queue, copy)
        CONSUMED.labels(self._policy.consumer, "parked").inc()


@dataclass(frozen=True, slots=True)
class _Unit:
    """One event to handle: the message that delivered it and that message's span.

    ``carried`` events came inside an envelope; retrying or parking one sends
    it as a message of its own, so its neighbours are not sent again.
    """

    message: AbstractIncomingMessage
    event: CloudEvent
    span: Span
    carried: bool = False


def _channel_open(message: AbstractIncomingMessage) -> bool:
    try:
        return not message.channel.is_closed
    except ChannelInvalidStateError:
        return False


async def _ack_through(last: AbstractIncomingMessage) -> None:
    try:
        await last.ack(multiple=True)
    except ChannelInvalidStateError:
        # The channel died after the work was done: the broker redelivers the
        # batch and the inbox turns it into duplicates. Nothing is lost.
        log.warning("ack of delivery %s lost with its channel", last.delivery_tag)


def _consumer_span(consumer: str, message: AbstractIncomingMessage, event: CloudEvent) -> Span:
    parent = extract_context(message.headers or {})
    return _tracer.start_span(
        f"{consumer} process {event.routing_key}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": consumer,
            "messaging.destination.name": message.routing_key or "",
            "messaging.message.id": event.id,
            "cloudevents.event_type": event.type,
        },
    )


def _traced(event: CloudEvent, span: Span) -> CloudEvent:
    """The event as the handler sees it: ``traceparent`` names the consumer span.

    A handler that publishes events caused by this one can pass
    ``traceparent=event.traceparent`` so the trace continues per event even
    when it handles a batch.
    """
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return event
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span, otel_context.Context()))
    return event.with_trace(carrier.get("traceparent"), carrier.get("tracestate"))
