"""SubgraphFetcher's own keep-alive pool against real local servers."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest

from gateway.fetcher import SubgraphFetcher, SubgraphFetchError
from tests.integration.gateway_fetcher.raw_server import (
    RawServer,
    chunked_response,
    json_response,
)

ANSWER = b'{"data":{"ok":true}}'


async def hang_up_on_second(body: bytes, n: int) -> tuple[bytes, bool]:
    """Echo, except that request 2 gets a hang-up without a byte of response."""
    if n == 2:
        return b"", True
    return json_response(b'{"data":{"echo":%s}}' % body), False


async def _echo(body: bytes, n: int) -> tuple[bytes, bool]:
    return json_response(b'{"data":{"echo":%s}}' % body), False


async def test_posts_json_body_and_forwards_auth_and_trace_headers() -> None:
    server = await RawServer(_echo).start()
    fetcher = SubgraphFetcher()
    try:
        result = await fetcher.fetch(
            "users",
            server.url,
            {"query": "{ me { id } }", "variables": {"x": 1}},
            {"authorization": "Bearer t0k", "traceparent": "00-abc-def-01"},
        )
    finally:
        await fetcher.aclose()
        await server.stop()
    assert result == {"data": {"echo": {"query": "{ me { id } }", "variables": {"x": 1}}}}
    head, body = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /graphql HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "authorization: Bearer t0k" in lines
    assert "traceparent: 00-abc-def-01" in lines
    assert "content-type: application/json" in lines
    assert orjson.loads(body) == {"query": "{ me { id } }", "variables": {"x": 1}}


async def test_decodes_chunked_response_bodies() -> None:
    async def chunked(body: bytes, n: int) -> tuple[bytes, bool]:
        return chunked_response([b'{"data":', b'{"items":[1,2,', b"3]}}"]), False

    server = await RawServer(chunked).start()
    fetcher = SubgraphFetcher()
    try:
        first = await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
        second = await fetcher.fetch("a", server.url, {"query": "{b}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()
    assert first == second == {"data": {"items": [1, 2, 3]}}
    assert server.connections == 1


async def test_body_delimited_by_connection_close_is_read_to_the_end() -> None:
    async def unframed(body: bytes, n: int) -> tuple[bytes, bool]:
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + ANSWER, True

    server = await RawServer(unframed).start()
    fetcher = SubgraphFetcher()
    try:
        first = await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
        second = await fetcher.fetch("a", server.url, {"query": "{b}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()
    assert first == second == {"data": {"ok": True}}
    assert server.connections == 2  # such a connection cannot be reused


async def test_truncated_content_length_body_is_an_error() -> None:
    async def truncated(body: bytes, n: int) -> tuple[bytes, bool]:
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + ANSWER, True

    server = await RawServer(truncated).start()
    fetcher = SubgraphFetcher()
    try:
        with pytest.raises(SubgraphFetchError, match="closed the connection mid-response"):
            await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()


async def test_sequential_requests_reuse_one_keep_alive_connection() -> None:
    server = await RawServer(_echo).start()
    fetcher = SubgraphFetcher()
    try:
        for i in range(5):
            result = await fetcher.fetch("a", server.url, {"query": f"{{f{i}}}"}, {})
            assert result["data"]["echo"] == {"query": f"{{f{i}}}"}
    finally:
        await fetcher.aclose()
        await server.stop()
    assert server.connections == 1
    assert len(server.requests) == 5


async def test_connection_close_response_is_not_reused() -> None:
    async def closing(body: bytes, n: int) -> tuple[bytes, bool]:
        return json_response(ANSWER, keep_alive=False), True

    server = await RawServer(closing).start()
    fetcher = SubgraphFetcher()
    try:
        for i in range(3):
            assert await fetcher.fetch("a", server.url, {"query": f"{{f{i}}}"}, {}) == {
                "data": {"ok": True}
            }
    finally:
        await fetcher.aclose()
        await server.stop()
    assert server.connections == 3


async def test_idle_connection_closed_by_server_is_retried_on_a_fresh_one() -> None:
    # The server answers with keep-alive, then silently drops the connection: the next
    # request finds it dead before any response byte and must be sent again.
    async def drop_after(body: bytes, n: int) -> tuple[bytes, bool]:
        return json_response(ANSWER), True

    server = await RawServer(drop_after).start()
    fetcher = SubgraphFetcher()
    try:
        assert await fetcher.fetch("a", server.url, {"query": "{a}"}, {}) == {"data": {"ok": True}}
        await asyncio.sleep(0.05)  # let the close reach us... or not: both paths must work
        assert await fetcher.fetch("a", server.url, {"query": "{b}"}, {}) == {"data": {"ok": True}}
    finally:
        await fetcher.aclose()
        await server.stop()
    assert server.connections == 2
    assert [orjson.loads(b)["query"] for _, b in server.requests] == ["{a}", "{b}"]


async def test_reused_connection_dropped_before_answering_is_retried_once() -> None:
    # Request 2 arrives on the kept-alive connection and the server hangs up without a
    # byte of response (an idle-timeout race): the fetcher resends it on a new connection.
    server = await RawServer(hang_up_on_second).start()
    fetcher = SubgraphFetcher()
    try:
        first = await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
        second = await fetcher.fetch("a", server.url, {"query": "{b}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()
    assert first == {"data": {"echo": {"query": "{a}"}}}
    assert second == {"data": {"echo": {"query": "{b}"}}}
    assert server.connections == 2
    assert [orjson.loads(b)["query"] for _, b in server.requests] == ["{a}", "{b}", "{b}"]


async def test_mutation_on_a_dropped_reused_connection_is_not_sent_twice() -> None:
    # The subgraph may have run the mutation before hanging up: resending could run it twice.
    server = await RawServer(hang_up_on_second).start()
    fetcher = SubgraphFetcher()
    try:
        await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
        with pytest.raises(SubgraphFetchError):
            await fetcher.fetch("a", server.url, {"query": "mutation { m }"}, {}, dedupe=False)
    finally:
        await fetcher.aclose()
        await server.stop()
    assert [orjson.loads(b)["query"] for _, b in server.requests] == ["{a}", "mutation { m }"]


async def test_fresh_connection_dropped_before_answering_is_an_error_not_a_retry() -> None:
    async def hang_up(body: bytes, n: int) -> tuple[bytes, bool]:
        return b"", True

    server = await RawServer(hang_up).start()
    fetcher = SubgraphFetcher()
    try:
        with pytest.raises(SubgraphFetchError, match="closed the connection mid-response"):
            await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()
    assert len(server.requests) == 1


async def test_pool_limit_queues_waiters_and_serves_them_all() -> None:
    gate = asyncio.Event()
    in_flight = 0
    peak = 0

    async def slow(body: bytes, n: int) -> tuple[bytes, bool]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await gate.wait()
        in_flight -= 1
        return json_response(b'{"data":{"echo":%s}}' % body), False

    server = await RawServer(slow).start()
    fetcher = SubgraphFetcher(max_connections_per_origin=2)
    try:
        calls = [
            asyncio.create_task(fetcher.fetch("a", server.url, {"query": f"{{f{i}}}"}, {}))
            for i in range(6)
        ]
        await asyncio.sleep(0.1)
        assert peak == 2  # the other four wait for a free connection
        gate.set()
        results = await asyncio.gather(*calls)
    finally:
        await fetcher.aclose()
        await server.stop()
    assert [r["data"]["echo"]["query"] for r in results] == [f"{{f{i}}}" for i in range(6)]
    assert server.connections == 2


async def test_slow_subgraph_raises_timeout_fetch_error() -> None:
    async def never(body: bytes, n: int) -> tuple[bytes, bool]:
        await asyncio.sleep(5)
        return json_response(ANSWER), False

    server = await RawServer(never).start()
    fetcher = SubgraphFetcher(timeout=0.2)
    try:
        with pytest.raises(SubgraphFetchError, match=r"did not answer within 0\.2s") as info:
            await fetcher.fetch("slowpoke", server.url, {"query": "{a}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()
    assert info.value.graph == "slowpoke"
    assert info.value.status is None


async def test_refused_connection_raises_connect_fetch_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetcher = SubgraphFetcher()
    try:
        with pytest.raises(SubgraphFetchError, match="ConnectError: cannot connect"):
            await fetcher.fetch("gone", f"http://127.0.0.1:{port}/graphql", {"query": "{a}"}, {})
    finally:
        await fetcher.aclose()


async def test_non_json_error_status_raises_with_status() -> None:
    async def bad_gateway(body: bytes, n: int) -> tuple[bytes, bool]:
        return (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\n"
            b"Content-Type: text/plain\r\n\r\noops",
            False,
        )

    server = await RawServer(bad_gateway).start()
    fetcher = SubgraphFetcher()
    try:
        with pytest.raises(SubgraphFetchError, match="502 Bad Gateway") as info:
            await fetcher.fetch("a", server.url, {"query": "{a}"}, {})
    finally:
        await fetcher.aclose()
        await server.stop()
    assert info.value.status == 502


async def test_non_http_url_is_rejected_with_a_fetch_error() -> None:
    fetcher = SubgraphFetcher(timeout=2)
    try:
        with pytest.raises(SubgraphFetchError, match="bad subgraph URL"):
            await fetcher.fetch("a", "ftp://example/graphql", {"query": "{a}"}, {})
    finally:
        await fetcher.aclose()
