"""The pieces behind ``serve``/``worker``/``gateway``: signals, subgraph lists, composition."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import httpx
import pytest
import strawberry
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from shared.errors import ConfigurationError
from shared.settings import Settings
from threadline.gatewayrun import compose_local, parse_subgraphs


def test_a_worker_stops_cleanly_on_sigterm() -> None:
    program = textwrap.dedent(
        """
        import asyncio, sys
        from threadline.runner import run_until_signalled

        async def main(stop: asyncio.Event) -> None:
            print("started", flush=True)
            await stop.wait()
            await asyncio.sleep(0.05)  # a clean shutdown still gets to finish its work
            print("stopped cleanly", flush=True)

        run_until_signalled(main)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.strip() == "stopped cleanly"


def test_default_subgraphs_are_the_three_local_services_on_their_ports() -> None:
    settings = Settings(profile_port=5001, journey_port=5002, scoring_port=5003)
    assert parse_subgraphs([], settings) == {
        "profile": "http://127.0.0.1:5001/graphql",
        "journey": "http://127.0.0.1:5002/graphql",
        "scoring": "http://127.0.0.1:5003/graphql",
    }


def test_subgraph_flags_replace_the_defaults() -> None:
    assert parse_subgraphs(["a=http://a:1/graphql", " b = https://b/graphql "], Settings()) == {
        "a": "http://a:1/graphql",
        "b": "https://b/graphql",
    }


@pytest.mark.parametrize("entry", ["profile", "=http://x/graphql", "p=ftp://x", "p="])
def test_malformed_subgraph_flags_are_refused_with_an_example(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="NAME=URL"):
        parse_subgraphs([entry], Settings())


@strawberry.federation.type(keys=["id"])
class Customer:
    id: strawberry.ID
    email: str


@strawberry.type
class Query:
    @strawberry.field
    def customer(self, id: strawberry.ID) -> Customer:
        return Customer(id=id, email="a@example.com")


class StartingTransport(httpx.AsyncBaseTransport):
    """A subgraph whose port refuses connections for its first ``refusals`` requests."""

    def __init__(self, refusals: int) -> None:
        graphql = GraphQL(strawberry.federation.Schema(query=Query))

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = dict(scope.get("headers", []))
            self.authorization.append(headers.get(b"authorization", b"").decode())
            await graphql(scope, receive, send)

        self.inner = httpx.ASGITransport(app=app)
        self.refusals = refusals
        self.authorization: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.refusals > 0:
            self.refusals -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_composition_waits_for_subgraphs_still_starting_and_sends_credentials() -> None:
    transport = StartingTransport(refusals=2)
    sdl = await compose_local(
        {"profile": "http://profile/graphql"},
        {"authorization": "Bearer t"},
        wait_seconds=30,
        transport=transport,
    )
    assert "type Customer" in sdl
    assert "join__graph" in sdl
    assert 'url: "http://profile/graphql"' in sdl
    assert transport.refusals == 0
    assert transport.authorization == ["Bearer t"]


async def test_composition_gives_up_on_a_subgraph_that_never_answers() -> None:
    with pytest.raises(ConfigurationError, match="cannot compose the supergraph"):
        await compose_local(
            {"profile": "http://profile/graphql"},
            {},
            wait_seconds=1.0,
            transport=StartingTransport(refusals=10_000),
        )
