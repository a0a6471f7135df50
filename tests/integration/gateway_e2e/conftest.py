"""The assembled gateway, as a user meets it: three live subgraphs, composed, served by uvicorn.

Session-scoped: the subgraphs, the supergraph composed from their live
``_service { sdl }`` and the gateway serving it all run on the test loop over real
sockets. Each test starts from fresh subgraph state and empty request logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from gateway.composition import compose, fetch_subgraph_sdl
from tests.integration.gateway_e2e.e2e_accounts import accounts
from tests.integration.gateway_e2e.e2e_products import products
from tests.integration.gateway_e2e.e2e_reviews import reviews
from tests.integration.gateway_e2e.e2e_servers import serving
from tests.integration.gateway_e2e.e2e_stack import (
    Gateway,
    Subgraphs,
    gateway_settings,
    running_gateway,
)


@pytest.fixture(scope="session")
async def subgraphs() -> AsyncIterator[Subgraphs]:
    served = (accounts(), products(), reviews())
    async with AsyncExitStack() as stack:
        urls = {}
        for subgraph in served:
            base = await stack.enter_async_context(serving(subgraph.app))
            urls[subgraph.name] = f"{base}/graphql"
        yield Subgraphs(*served, urls=urls)


@pytest.fixture(scope="session")
async def supergraph_sdl(subgraphs: Subgraphs) -> str:
    """Composed from what the running subgraphs answer to ``{ _service { sdl } }``."""
    async with httpx.AsyncClient(timeout=10) as client:
        definitions = [
            await fetch_subgraph_sdl(client, name, url) for name, url in subgraphs.urls.items()
        ]
    return compose(definitions)


@pytest.fixture(scope="session")
async def gateway(supergraph_sdl: str) -> AsyncIterator[Gateway]:
    async with running_gateway(supergraph_sdl, gateway_settings()) as served:
        yield served


@pytest.fixture(autouse=True)
def fresh_subgraphs(subgraphs: Subgraphs) -> Subgraphs:
    subgraphs.reset()
    return subgraphs


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http
