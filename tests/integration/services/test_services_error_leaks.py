"""Outages are reported by what failed, never by where: no addresses, URLs or driver detail
in what callers see; the detail goes to the server log."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.routing import Route
from yarl import URL

from services.profile.adapters.in_memory import InMemoryQuarantine
from services.profile.adapters.mongo import MongoProfileStore
from services.profile.api.collect import collection_routes
from services.profile.api.graph import ProfileContext, schema
from services.profile.api.intake import Collector
from shared.auth import Principal, TokenVerifier, WriteKeys, issue_token
from shared.bus.rabbitmq import Bus
from shared.errors import BusError
from shared.settings import Settings
from shared.subgraph import AuthenticatedGraphQL
from tests.integration.services.services_support import JWT_SECRET
from threadline.devinfra import free_port

pytestmark = pytest.mark.integration

WRITE_KEY = "leak-test-write-key"


@contextlib.asynccontextmanager
async def hung_database() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a database that hangs.

    (A closed port would do too, but the driver then leaks the refused socket now and then,
    which pytest's unraisable-exception check turns into a failure.)
    """
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    port = free_port()
    server = await asyncio.start_server(hold, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        for writer in held:
            writer.transport.abort()
        await server.wait_closed()


async def test_a_database_outage_is_a_storage_error_without_the_database_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with hung_database() as port:
        response = await query_customer(port, caplog)

    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == "the database is unavailable; retry later"
    assert error["extensions"] == {"code": "STORAGE_UNAVAILABLE"}
    assert error["path"] == ["customer"]
    for internal in ("127.0.0.1", str(port), "Topology", "ServerSelectionTimeoutError"):
        assert internal not in response.text
    assert str(port) in caplog.text  # the operator still learns where


async def query_customer(port: int, caplog: pytest.LogCaptureFixture) -> httpx.Response:
    """Ask the profile subgraph, backed by the real adapter on the database at ``port``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true",
        serverSelectionTimeoutMS=300,
        tz_aware=True,
    )
    store = MongoProfileStore(client["threadline_profile"])

    async def context(request: Any, principal: Principal) -> ProfileContext:
        return ProfileContext(principal=principal, store=store)

    graphql = AuthenticatedGraphQL(
        schema, verifier=TokenVerifier(secret=JWT_SECRET), context=context
    )
    app = Starlette(routes=[Route("/graphql", graphql)])
    token = issue_token(JWT_SECRET, ["customers:read"])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://profile"
        ) as http:
            with caplog.at_level(logging.ERROR):
                return await http.post(
                    "/graphql",
                    json={"query": '{ customer(id: "c1") { id } }'},
                    headers={"authorization": f"Bearer {token}"},
                )
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def relay(target: str) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP relay to the broker; setting the yielded event cuts every connection and stops
    listening, which is a broker outage as far as clients can tell."""
    upstream = URL(target)
    links: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(upstream.host, upstream.port)
        links.extend([writer, up_writer])
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    port = free_port()
    server = await asyncio.start_server(accept, "127.0.0.1", port)
    outage = asyncio.Event()

    async def cut_when_told() -> None:
        await outage.wait()
        server.close()
        for link in links:
            link.transport.abort()

    cutter = asyncio.create_task(cut_when_told())
    try:
        yield port, outage
    finally:
        outage.set()
        await cutter
        await server.wait_closed()


async def test_a_broker_outage_answers_503_naming_the_bus_but_not_its_url(
    infra: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker = URL(infra.amqp_url)
    async with relay(infra.amqp_url) as (port, outage):
        settings = Settings(amqp_url=str(broker.with_port(port)), write_keys=(WRITE_KEY,))
        bus = await Bus.connect(settings, source="threadline/leak-test", reconnect_interval=30)
        try:
            collector = Collector(
                publisher=bus, quarantine=InMemoryQuarantine(), write_keys=WriteKeys((WRITE_KEY,))
            )
            app = Starlette(routes=collection_routes(lambda request: collector))
            outage.set()
            await unreachable(bus)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://collector"
            ) as http:
                with caplog.at_level(logging.WARNING):
                    response = await http.post(
                        "/v1/track",
                        json={"userId": "u-1", "event": "Order Completed"},
                        headers={"authorization": f"Basic {basic(WRITE_KEY)}"},
                    )
        finally:
            await bus.close()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["success"] is False
    assert body["message"] == "the event bus is unavailable, retry later"
    for internal in ("amqp", "127.0.0.1", str(port), "guest", "RabbitMQ"):
        assert internal not in response.text
    assert str(port) in caplog.text  # the operator still learns where


async def unreachable(bus: Bus) -> None:
    """Wait until the bus has noticed the outage."""
    while True:
        try:
            await bus.ping()
        except BusError:
            return
        await asyncio.sleep(0.02)


def basic(key: str) -> str:
    return base64.b64encode(f"{key}:".encode()).decode()
