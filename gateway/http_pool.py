"""A minimal keep-alive HTTP/1.1 client for subgraph POSTs: O(1) work per request.

httpcore's pool scans every pooled connection on each request and response, which at
32 concurrent operations × 10 fetches cost most of the gateway's CPU. Here each origin
keeps a LIFO stack of idle connections and a FIFO queue of waiters, so taking and
returning a connection is a deque push/pop. Responses are parsed by httptools (C).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

_READ_CHUNK = 65536


class HttpPoolError(Exception):
    """Root of this module's errors; the message says what failed and where."""


class HttpConnectError(HttpPoolError):
    """The origin could not be connected to (refused, unresolvable, connect timeout)."""


class HttpTimeoutError(HttpPoolError):
    """No connection became free, or the response did not arrive, within the timeout."""


class HttpProtocolError(HttpPoolError):
    """The connection broke or the server's answer was not valid HTTP/1.1."""


class HttpUrlError(HttpPoolError):
    """The URL is not an absolute http(s) URL."""


class _StaleConnection(HttpProtocolError):
    """A reused connection was closed by the server before any response byte arrived."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def split_url(url: str) -> tuple[Origin, str]:
    """``(origin, request target)`` for an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpUrlError(f"expected an absolute http(s) URL, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Origin(parts.scheme, parts.hostname, port), target


class _Response:
    """httptools callback target collecting one response."""

    __slots__ = ("body", "complete", "framed", "headers_done", "keep_alive", "parser", "started")

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False
        self.started = False
        self.framed = False  # Content-Length or chunked: else the body ends at close
        self.headers_done = False
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.started = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        # Read it now: llhttp resets its state once the message is done.
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


class _Connection:
    __slots__ = ("reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send ``request``; return ``(status, body, keep_alive)``."""
        self.writer.write(request)
        result = _Response()
        parser = result.parser
        received = False
        try:
            while not result.complete:
                data = await self.reader.read(_READ_CHUNK)
                if not data:
                    if not received and self.reused:
                        raise _StaleConnection("server closed an idle keep-alive connection")
                    # httptools cannot be told about EOF: a body without Content-Length
                    # or chunking (legal HTTP/1.1, rare) ends at close, so finish it here.
                    if result.headers_done and not result.framed:
                        result.complete = True
                        result.keep_alive = False
                        break
                    raise HttpProtocolError("server closed the connection mid-response")
                received = True
                parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise HttpProtocolError(f"invalid HTTP response: {exc}") from exc
        except (ConnectionError, OSError) as exc:
            if not received and self.reused:
                raise _StaleConnection(str(exc)) from exc
            raise HttpProtocolError(f"{type(exc).__name__}: {exc}") from exc
        status = parser.get_status_code()
        return status, b"".join(result.body), result.keep_alive


class _OriginPool:
    """Idle connections (LIFO: the warmest first) and FIFO waiters for one origin."""

    def __init__(self, origin: Origin, limit: int, ssl_context: ssl.SSLContext | None) -> None:
        self.origin = origin
        self.limit = limit
        self.ssl = ssl_context
        self.idle: deque[_Connection] = deque()
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self.open = 0

    async def acquire(self, wait_s: float, *, fresh: bool = False) -> _Connection:
        while self.idle and not fresh:
            conn = self.idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                conn.reused = True
                return conn
            self._discard(conn)
        if self.open < self.limit:
            return await self._connect(wait_s)
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            handed_conn = await asyncio.wait_for(waiter, wait_s)
        except BaseException as exc:
            # Handed a connection (or slot) just as we gave up: pass it on, don't leak it.
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is None:
                    self._release_slot()
                else:
                    self.release(handed, reusable=True)
            if not isinstance(exc, TimeoutError):
                raise
            raise HttpTimeoutError(
                f"no free connection to {self.origin.host_header} within {wait_s}s "
                f"({self.limit} in use); raise max_connections or the timeout"
            ) from exc
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self.waiters.remove(waiter)
        # None: a slot was freed (a connection closed) and handed to us to open anew.
        if handed_conn is None:
            self.open -= 1  # the slot _release_slot reserved for us
            return await self._connect(wait_s)
        return handed_conn

    async def _connect(self, wait_s: float) -> _Connection:
        self.open += 1
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.origin.host, self.origin.port, ssl=self.ssl, limit=_READ_CHUNK * 4
                ),
                wait_s,
            )
        except TimeoutError as exc:
            self._release_slot()
            raise HttpConnectError(
                f"connecting to {self.origin.host_header} timed out after {wait_s}s"
            ) from exc
        except BaseException as exc:
            self._release_slot()
            if isinstance(exc, OSError):
                raise HttpConnectError(
                    f"cannot connect to {self.origin.host_header}: {exc}"
                ) from exc
            raise
        return _Connection(reader, writer)

    def release(self, conn: _Connection, reusable: bool) -> None:
        if not reusable:
            self._discard(conn)
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                conn.reused = True
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._release_slot()

    def _release_slot(self) -> None:
        self.open -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.open += 1  # reserved for the waiter; it undoes this before connecting
                waiter.set_result(None)
                return

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


class HttpPool:
    """Keep-alive HTTP/1.1 POST client with at most ``max_connections`` per origin."""

    def __init__(self, *, max_connections: int = 64, ssl_context: ssl.SSLContext | None = None):
        self._limit = max_connections
        self._ssl = ssl_context
        self._pools: dict[Origin, _OriginPool] = {}
        self._targets: dict[str, tuple[_OriginPool, bytes]] = {}

    def _pool_for(self, url: str) -> tuple[_OriginPool, bytes]:
        known = self._targets.get(url)
        if known is not None:
            return known
        origin, target = split_url(url)
        pool = self._pools.get(origin)
        if pool is None:
            context = None
            if origin.scheme == "https":
                context = self._ssl or ssl.create_default_context()
            pool = self._pools[origin] = _OriginPool(origin, self._limit, context)
        head = f"POST {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n".encode("latin-1")
        self._targets[url] = (pool, head)
        return pool, head

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Iterable[tuple[str, str]],
        *,
        deadline_s: float,
        idempotent: bool = True,
    ) -> tuple[int, bytes]:
        """POST ``body``; return ``(status, body)``. Raises :class:`HttpPoolError`.

        An idempotent request whose reused keep-alive connection turns out dead is sent
        once more on a fresh one; a mutation never is: the subgraph may have run it.
        """
        pool, head = self._pool_for(url)
        lines = [head]
        for name, value in headers:
            if "\r" in value or "\n" in value:
                raise HttpProtocolError(f"header {name!r} contains a line break; remove it")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n".encode())
        lines.append(body)
        request = b"".join(lines)
        try:
            async with asyncio.timeout(deadline_s):
                for attempt in (0, 1):
                    conn = await pool.acquire(deadline_s, fresh=attempt == 1)
                    try:
                        status, content, keep_alive = await conn.exchange(request)
                    except _StaleConnection:
                        pool.release(conn, reusable=False)
                        if attempt or not idempotent:
                            raise
                        continue
                    except BaseException:
                        pool.release(conn, reusable=False)
                        raise
                    pool.release(conn, reusable=keep_alive)
                    return status, content
        except TimeoutError as exc:
            raise HttpTimeoutError(f"{url} did not answer within {deadline_s}s") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()
