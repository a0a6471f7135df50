"""Subscriptions (and any operation) over WebSocket with the ``graphql-transport-ws`` protocol.

Close codes are the protocol's: 4400 invalid message, 4401 subscribe before
``connection_ack``, 4403 ``connection_init`` credentials refused, 4406 the
subprotocol was not offered, 4408 no ``connection_init`` in time, 4409 an
operation id already in use, 4429 a second ``connection_init``.

Credentials come from ``connection_init``'s payload (``Authorization`` or
``authorization``, or ``headers.Authorization``, or ``token``), falling back
to the upgrade request's ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from graphql import OperationType
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.engine import RequestError
from gateway.http.errors import HttpError
from gateway.http.params import from_mapping
from gateway.http.pipeline import Caller, Operation, Pipeline
from gateway.security import SecurityError
from gateway.telemetry import server_span

logger = logging.getLogger("gateway.http.websocket")

PROTOCOL = "graphql-transport-ws"


class ProtocolClose(Exception):
    """Ends the connection with a protocol close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        # A close frame's reason holds at most 123 bytes of UTF-8.
        self.reason = reason.encode()[:123].decode(errors="ignore")


class ConnectionGone(Exception):
    """The client went away while we were sending to it."""


class Connection:
    """One client connection: its state, its operations and a serialized sender."""

    def __init__(self, socket: WebSocket, pipeline: Pipeline) -> None:
        self.socket = socket
        self.pipeline = pipeline
        self.caller: Caller | None = None
        self.init_received = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            try:
                await self.socket.send_text(orjson.dumps(message).decode())
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise ConnectionGone() from exc

    async def run(self) -> None:
        timeout = self.pipeline.settings.ws_connection_init_timeout_seconds
        init_deadline = asyncio.get_running_loop().time() + timeout
        try:
            while True:
                if not self.init_received:
                    remaining = init_deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        raise ProtocolClose(4408, "Connection initialisation timeout")
                    try:
                        text = await asyncio.wait_for(self._receive(), remaining)
                    except TimeoutError:
                        raise ProtocolClose(4408, "Connection initialisation timeout") from None
                else:
                    text = await self._receive()
                if text is None:
                    return
                await self.handle(text)
        except ProtocolClose as close:
            with contextlib.suppress(RuntimeError, OSError):
                await self.socket.close(close.code, close.reason)
        except (WebSocketDisconnect, ConnectionGone):
            return
        finally:
            for task in self.operations.values():
                task.cancel()
            if self.operations:
                await asyncio.gather(*self.operations.values(), return_exceptions=True)

    async def _receive(self) -> str | None:
        message = await self.socket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None:
            data = message.get("bytes")
            if data is None:
                raise ProtocolClose(4400, "Invalid message received")
            text = data.decode("utf-8", "replace")
        return str(text)

    async def handle(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ProtocolClose(4400, "Invalid message received: not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolClose(4400, "Invalid message received: no 'type'")
        kind = message["type"]
        if kind == "connection_init":
            await self.connection_init(message.get("payload"))
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if isinstance(message.get("payload"), dict):
                pong["payload"] = message["payload"]
            await self.send(pong)
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self.subscribe(message)
        elif kind == "complete":
            operation_id = message.get("id")
            if not isinstance(operation_id, str):
                raise ProtocolClose(4400, "Invalid message received: 'complete' needs an 'id'")
            task = self.operations.pop(operation_id, None)
            if task is not None:
                task.cancel()
        else:
            raise ProtocolClose(4400, f"Invalid message received: unknown type {kind!r}")

    async def connection_init(self, payload: object) -> None:
        if self.init_received:
            raise ProtocolClose(4429, "Too many initialisation requests")
        self.init_received = True
        if payload is not None and not isinstance(payload, dict):
            raise ProtocolClose(4400, "Invalid message received: payload must be an object")
        authorization = _authorization(payload or {}) or self.socket.headers.get("authorization")
        client = self.socket.client
        try:
            self.caller = await self.pipeline.admit(
                authorization,
                client.host if client else None,
                self.socket.headers.get("x-forwarded-for"),
                self.socket.headers,
            )
        except SecurityError as exc:
            raise ProtocolClose(4403, f"Forbidden: {exc.message}") from None
        await self.send({"type": "connection_ack"})

    async def subscribe(self, message: dict[str, Any]) -> None:
        caller = self.caller
        if caller is None:
            raise ProtocolClose(4401, "Unauthorized")
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or not isinstance(payload, dict):
            raise ProtocolClose(4400, "Invalid message received: 'subscribe' needs id and payload")
        if operation_id in self.operations:
            raise ProtocolClose(4409, f"Subscriber for {operation_id} already exists")
        principal = caller.principal
        expires_at = principal.expires_at if principal is not None else None
        if expires_at is not None and expires_at < time.time():
            raise ProtocolClose(4403, "Forbidden: the token has expired; reconnect")
        task = asyncio.create_task(self._operation(operation_id, payload, caller))
        self.operations[operation_id] = task
        task.add_done_callback(lambda _: self._forget(operation_id, task))

    def _forget(self, operation_id: str, task: asyncio.Task[None]) -> None:
        if self.operations.get(operation_id) is task:
            del self.operations[operation_id]

    async def _operation(self, operation_id: str, payload: dict[str, Any], caller: Caller) -> None:
        started = time.perf_counter()
        metrics = self.pipeline.metrics
        operation_type = "unknown"
        status = 200
        with server_span(
            "graphql.ws.operation", self.socket.headers, {"ws.id": operation_id}
        ) as span:
            try:
                self.pipeline.rate_limiter.take(caller.client_id)
                operation = self.pipeline.prepare(from_mapping(payload))
                operation_type = operation.prepared.operation_type.value
                if span.is_recording():  # named as over HTTP: "<type> <operationName>"
                    name = operation.prepared.operation_name
                    span.update_name(f"{operation_type} {name or ''}".strip())
                    span.set_attribute("graphql.operation.type", operation_type)
                    if name:
                        span.set_attribute("graphql.operation.name", name)
                await self._run(operation_id, operation, caller, started)
            except (RequestError, SecurityError, HttpError) as exc:
                status = getattr(exc, "status", 400)
                await self._error(operation_id, exc)
            except ConnectionGone:
                return
            except Exception:
                logger.exception("a WebSocket operation failed")
                status = 500
                await self._send_quietly(
                    {
                        "type": "error",
                        "id": operation_id,
                        "payload": [
                            {
                                "message": "the gateway failed while running this operation",
                                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                            }
                        ],
                    }
                )
            finally:
                if operation_type != "subscription":
                    metrics.observe("ws", operation_type, status, time.perf_counter() - started)

    async def _run(
        self, operation_id: str, operation: Operation, caller: Caller, started: float
    ) -> None:
        engine = self.pipeline.holder.engine
        prepared, request = operation.prepared, operation.request
        context = caller.context()
        if prepared.operation_type is not OperationType.SUBSCRIPTION:
            result = await engine.execute(prepared, request, context)
            await self.send({"type": "next", "id": operation_id, "payload": result})
            await self.send({"type": "complete", "id": operation_id})
            return
        metrics = self.pipeline.metrics
        metrics.observe("ws", "subscription", 200, time.perf_counter() - started)
        gauge = metrics.active_subscriptions.labels("ws")
        gauge.inc()
        events = engine.subscribe(prepared, request, context)
        try:
            async for event in events:
                await self.send({"type": "next", "id": operation_id, "payload": event})
            await self.send({"type": "complete", "id": operation_id})
        finally:
            gauge.dec()
            closer = getattr(events, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def _error(
        self, operation_id: str, exc: RequestError | SecurityError | HttpError
    ) -> None:
        if isinstance(exc, RequestError):
            errors = exc.errors
        elif isinstance(exc, SecurityError):
            errors = [exc.graphql_error()]
        else:
            errors = [{"message": exc.message, "extensions": {"code": exc.code}}]
        await self._send_quietly({"type": "error", "id": operation_id, "payload": errors})

    async def _send_quietly(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionGone):
            await self.send(message)


def _authorization(payload: Mapping[str, Any]) -> str | None:
    for key in ("Authorization", "authorization"):
        value = payload.get(key)
        if isinstance(value, str):
            return value
    headers = payload.get("headers")
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == "authorization" and isinstance(value, str):
                return value
    token = payload.get("token")
    if isinstance(token, str) and token:
        return f"Bearer {token}"
    return None


async def websocket_endpoint(socket: WebSocket) -> None:
    pipeline: Pipeline = socket.app.state.pipeline
    offered = socket.scope.get("subprotocols") or []
    if PROTOCOL not in offered:
        await socket.accept()
        await socket.close(4406, "Subprotocol not acceptable: use graphql-transport-ws")
        return
    await socket.accept(subprotocol=PROTOCOL)
    await Connection(socket, pipeline).run()
