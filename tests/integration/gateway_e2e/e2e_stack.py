"""The pieces of the end-to-end stack: running subgraphs, a served gateway, its settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette

from gateway.federation_engine import FederationEngine
from gateway.http import create_app
from gateway.settings import GatewaySettings
from shared.telemetry import tracer
from tests.integration.gateway_e2e.e2e_reviews import ReviewsState
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
    """A gateway served by uvicorn on the test loop."""

    base_url: str
    app: Starlette

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)


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
