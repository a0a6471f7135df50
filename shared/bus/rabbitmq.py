"""The RabbitMQ bus adapter (aio-pika): implements ``Publisher`` and ``Consumers``.

With its siblings in ``shared.bus``, the only code that imports aio_pika. It keeps a
robust connection that reconnects by itself and restores channels, topology
and consumers; translates broker failures into :class:`BusError`; and bounds
every broker wait so a caller (the collection API) can answer 503 instead of
hanging while the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pamqp.exceptions
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.connection import make_url
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.bus.consumer import BatchPolicy, ShardConsumer
from shared.bus.envelope import (
    event_message,
)
from shared.bus.metrics import PUBLISH_FAILURES, PUBLISHED
from shared.bus.parking import ParkingLot
from shared.bus.ports import ConsumerSpec, Inbox, ParkedMessage
from shared.bus.topology import (
    SHARD_ARGUMENTS,
    GroupNames,
    declare_events_exchange,
    declare_group,
)
from shared.errors import BusError, ConfigurationError
from shared.events import CloudEvent
from shared.settings import Settings
from shared.telemetry import extract_context

log = logging.getLogger("threadline.bus")
_tracer = trace.get_tracer("threadline.bus")

_BROKER_ERRORS = (
    AMQPError,
    ChannelInvalidStateError,
    ConnectionError,
    OSError,
    TimeoutError,
    pamqp.exceptions.PAMQPException,
)


class Bus:
    """Publisher and consumer groups over one robust RabbitMQ connection.

    ``await Bus.connect(settings, source="threadline/profile", inbox=...)``; the
    inbox is needed only by processes that :meth:`start` consumers.
    """

    def __init__(
        self,
        settings: Settings,
        source: str,
        connection: AbstractRobustConnection,
        publisher: AbstractRobustChannel,
        topology: AbstractRobustChannel,
        events: AbstractExchange,
        inbox: Inbox | None,
        timeout: float,
    ) -> None:
        self.settings = settings
        self.source = source
        self._connection = connection
        self._publisher = publisher
        self._topology = topology
        self._events = events
        self._inbox = inbox
        self._timeout = timeout
        self._consumers: list[ShardConsumer] = []
        self._channels: list[AbstractRobustChannel] = []
        self._closed = False
        self._parking = ParkingLot(connection, self._send, settings.exchange, timeout)

    @classmethod
    async def connect(
        cls,
        settings: Settings,
        source: str,
        *,
        inbox: Inbox | None = None,
        broker_timeout: float = 5.0,
        reconnect_interval: float = 1.0,
    ) -> Bus:
        """Connect, open the publisher channel (confirms on) and declare the events exchange.

        ``broker_timeout`` bounds every wait on the broker (a publish fails with
        ``BusError`` after it); ``reconnect_interval`` is the pause between
        reconnection attempts once connected.
        """
        # What aio_pika.connect_robust does, keeping hold of the connection so that a failed
        # attempt is closed here (dropped unclosed, it schedules its close when collected,
        # possibly outside any event loop).
        connection = aio_pika.RobustConnection(
            make_url(settings.amqp_url, reconnect_interval=reconnect_interval),
            client_properties={"connection_name": source},
            reconnect_interval=reconnect_interval,
        )
        try:
            await connection.connect(timeout=broker_timeout)
        except _BROKER_ERRORS as exc:
            await connection.close()
            raise BusError(
                f"cannot connect to RabbitMQ at {_redacted(settings.amqp_url)}: {exc}; "
                "is the broker running and THREADLINE_AMQP_URL right?"
            ) from exc
        try:
            async with _broker_errors("opening the bus channels"):
                publisher = await connection.channel(publisher_confirms=True)
                topology = await connection.channel(publisher_confirms=False)
                events = await declare_events_exchange(topology, settings.exchange)
        except BusError:
            await connection.close()
            raise
        return cls(settings, source, connection, publisher, topology, events, inbox, broker_timeout)

    # -- publishing ---------------------------------------------------------

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish persistently and concurrently; return once every event is confirmed."""
        if not events:
            return
        try:
            self._ensure_connected()
            await asyncio.wait_for(self._publish_all(events), timeout=self._timeout)
        except BusError:
            PUBLISH_FAILURES.inc()
            raise
        except _BROKER_ERRORS as exc:
            PUBLISH_FAILURES.inc()
            raise BusError(
                f"publishing {len(events)} event(s) failed: {_describe(exc)}; "
                "nothing was confirmed, publish again once the broker is back"
            ) from exc
        for event_type, count in Counter(event.type for event in events).items():
            PUBLISHED.labels(event_type).inc(count)

    async def _publish_all(self, events: Sequence[CloudEvent]) -> None:
        channel = await self._publisher.get_underlay_channel()
        exchange = self.settings.exchange
        spans = []
        sends = []
        for event in events:
            routing_key = event.routing_key
            parent = (
                extract_context({"traceparent": event.traceparent}) if event.traceparent else None
            )
            span = _tracer.start_span(
                f"publish {routing_key}",
                context=parent,
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "publish",
                    "messaging.destination.name": exchange,
                    "messaging.rabbitmq.destination.routing_key": routing_key,
                    "messaging.message.id": event.id,
                },
            )
            headers: dict[str, Any] = event.headers()
            propagate.inject(headers, context=trace.set_span_in_context(span))
            message = event_message(event, headers)
            spans.append(span)
            sends.append(
                channel.basic_publish(
                    message.body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=message.properties,
                    mandatory=False,
                )
            )
        results = await asyncio.gather(*sends, return_exceptions=True)
        failure: BaseException | None = None
        for span, result in zip(spans, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                span.set_status(Status(StatusCode.ERROR, _describe(result)))
            span.end()
        if failure is not None:
            raise failure

    async def _send(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        """Publish one message and wait for its confirm (retries, parking, replay)."""
        self._ensure_connected()
        async with _broker_errors(f"publishing to {exchange or 'queue'} {routing_key}"):
            channel = await asyncio.wait_for(
                self._publisher.get_underlay_channel(), timeout=self._timeout
            )
            await asyncio.wait_for(
                channel.basic_publish(
                    message.body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=message.properties,
                    mandatory=False,
                ),
                timeout=self._timeout,
            )

    def _ensure_connected(self) -> None:
        if self._closed:
            raise BusError("the bus is closed; connect a new Bus")
        if self._connection.is_closed or not self._connection.connected.is_set():
            raise BusError(
                f"RabbitMQ at {_redacted(self.settings.amqp_url)} is unreachable "
                "(reconnecting); retry later"
            )

    # -- consuming ----------------------------------------------------------

    async def start(self, spec: ConsumerSpec, *, inbox: Inbox | None = None) -> None:
        """Declare the group's topology (idempotently) and consume each of its shards."""
        inbox = inbox or self._inbox
        if inbox is None:
            raise ConfigurationError(
                f"consumer {spec.name!r} needs an inbox: pass inbox= to Bus.connect or start"
            )
        if not spec.bindings:
            raise ConfigurationError(f"consumer {spec.name!r} binds no routing-key patterns")
        settings = self.settings
        names = GroupNames(settings.exchange, spec.name, settings.shards)
        policy = BatchPolicy(
            consumer=spec.name,
            batch_size=settings.batch_size,
            linger_s=settings.batch_linger_ms / 1000,
            max_attempts=settings.max_attempts,
            retry_queue=names.retry,
            parked_queue=names.parked,
        )
        async with _broker_errors(f"declaring the topology of consumer {spec.name!r}"):
            await declare_group(
                self._topology, self._events, names, spec.bindings, settings.retry_delay_ms
            )
            for queue_name in names.shard_queues:
                channel = await self._connection.channel(publisher_confirms=False)
                self._channels.append(channel)
                await channel.set_qos(prefetch_count=settings.prefetch)
                queue = await channel.declare_queue(
                    queue_name, durable=True, arguments=SHARD_ARGUMENTS
                )
                consumer = ShardConsumer(
                    channel=channel,
                    queue=queue,
                    policy=policy,
                    handler=spec.handler,
                    inbox=inbox,
                    unpack=spec.unpack,
                    send=self._send,
                )
                await consumer.start()
                self._consumers.append(consumer)
        log.info("consumer %s started on %d shards", spec.name, settings.shards)

    # -- parking ------------------------------------------------------------

    async def parked(self, consumer: str, limit: int = 100) -> list[ParkedMessage]:
        """List up to ``limit`` parked events, oldest first, leaving them parked."""
        self._ensure_connected()
        async with _broker_errors(f"listing the parked events of {consumer!r}"):
            return await self._parking.list(consumer, limit)

    async def replay(self, consumer: str, event_ids: Sequence[str] | None = None) -> int:
        """Send parked events (all, or those named) back through the consumer's shards."""
        self._ensure_connected()
        async with _broker_errors(f"replaying the parked events of {consumer!r}"):
            return await self._parking.replay(consumer, event_ids)

    # -- lifecycle ----------------------------------------------------------

    async def ping(self) -> None:
        """Raise ``BusError`` unless the broker answers a round trip now."""
        self._ensure_connected()
        async with _broker_errors("pinging RabbitMQ"):
            underlay = await asyncio.wait_for(
                self._publisher.get_underlay_channel(), timeout=self._timeout
            )
            probe = await underlay.connection.channel(
                publisher_confirms=False, timeout=self._timeout
            )
            await probe.close()

    async def close(self) -> None:
        """Stop consuming, let in-flight batches finish (acked), then close the connection."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(consumer.stop() for consumer in self._consumers))
        self._consumers.clear()
        for channel in self._channels:
            try:
                await channel.close()
            except Exception as exc:  # closing anyway
                log.debug("closing a consumer channel failed: %s", exc)
        self._channels.clear()
        await self._connection.close()


@asynccontextmanager
async def _broker_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except BusError:
        raise
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        raise BusError(
            f"{what} failed: {exc}; an exchange or queue exists with other arguments "
            "(e.g. a changed shard count or retry delay): delete it or restore the settings"
        ) from exc
    except _BROKER_ERRORS as exc:
        raise BusError(f"{what} failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the broker did not answer in time"
    return f"{type(exc).__name__}: {exc}"


def _redacted(url: str) -> str:
    from yarl import URL

    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url
