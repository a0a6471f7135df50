"""A scriptable raw HTTP/1.1 server: counts TCP connections, records requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Responder = Callable[[bytes, int], Awaitable[tuple[bytes, bool]]]


@dataclass
class RawServer:
    """Answers each request with ``responder(body, n)`` → ``(raw response, close after)``."""

    responder: Responder
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                raw, close = await self.responder(body, len(self.requests))
                writer.write(raw)
                await writer.drain()
                if close:
                    return
        finally:
            writer.close()


def json_response(body: bytes, *, keep_alive: bool = True, status: int = 200) -> bytes:
    connection = b"keep-alive" if keep_alive else b"close"
    return (
        b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: %s\r\n\r\n%s" % (status, len(body), connection, body)
    )


def chunked_response(chunks: list[bytes]) -> bytes:
    parts = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ]
    parts += [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)
