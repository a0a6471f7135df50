"""The assembled gateway, as a user meets it: three live subgraphs, composed, served by uvicorn.

Session-scoped: the subgraphs, the supergraph composed from their live
``_service { sdl }`` and the gateway serving it all run on the test loop over real
sockets. Each test starts from fresh subgraph state and empty request logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette

from gateway.composition import compose, fetch_subgraph_sdl
from gateway.federation_engine import FederationEngine
from gateway.http import create_app
from gateway.settings import GatewaySettings
from shared.telemetry import tracer
from tests.integration.gateway_e2e.e2e_accounts import accounts
from tests.integration.gateway_e2e.e2e_products import products
from tests.integration.gateway_e2e.e2e_reviews import ReviewsState, reviews
from tests.integration.gateway_e2e.e2e_servers import serving
from tests.integration.gateway_e2e.e2e_subgraph_app import JWT_SECRET, Served


@dataclass
class Subgraphs:
    """The three running subgraphs, by name, with what each received."""

    accounts: Served
    products: Served
    reviews: Served
    urls: dict[str, str]

    @property
    def all(self) -> tuple[Served, Served, Served]:
        return (self.accounts, self.products, self.reviews)

    @property
    def reviews_state(self) -> ReviewsState:
        state: ReviewsState = self.reviews.state
        return state

    def reset(self) -> None:
        for served in self.all:
            served.state.reset()
            served.log.reset()

    def requests_seen(self) -> int:
        """HTTP requests plus WebSocket upgrades, across all three subgraphs."""
        return sum(len(served.log.seen) for served in self.all)


@dataclass(frozen=True)
class Gateway:
    base_url: str
    app: Starlette

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    @property
    def engine(self) -> FederationEngine:
        engine: FederationEngine = self.app.state.engine_holder.current
        return engine


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


def gateway_settings(**overrides: object) -> GatewaySettings:
    """Settings as an operator gives them: the HS256 secret in ``THREADLINE_JWT_SECRET``."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("THREADLINE_JWT_SECRET", JWT_SECRET)
        env.setenv("THREADLINE_ENVIRONMENT", str(overrides.pop("environment", "development")))
        return GatewaySettings(**overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running_gateway(
    supergraph: str, settings: GatewaySettings, subgraph_urls: dict[str, str] | None = None
) -> AsyncIterator[Gateway]:
    """``create_app`` + ``FederationEngine`` under uvicorn, as ``threadline gateway`` wires them."""

    async def engine() -> FederationEngine:
        return FederationEngine(supergraph, subgraph_urls, tracer=tracer("threadline.gateway"))

    app = create_app(engine, settings)
    async with serving(app, lifespan="on") as base:
        yield Gateway(base, app)


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
