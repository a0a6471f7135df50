"""Apps the graphql-http audit runs against (``uvicorn --factory``), anonymous access allowed."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from gateway.http import create_app
from gateway.settings import GatewaySettings
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine

# The federation engine's own test supergraph; the audit only needs its API schema.
SUPERGRAPH = Path(__file__).parents[2] / "unit" / "gateway_engine" / "fixtures" / "shop.graphql"


def _settings() -> GatewaySettings:
    return GatewaySettings(
        auth_required=False, rate_limit_per_second=0.0, environment="development"
    )


def fake_app() -> Starlette:
    return create_app(FakeEngine(), _settings())


def federation_app() -> Starlette:
    from gateway.federation_engine import FederationEngine

    async def engine() -> FederationEngine:
        return FederationEngine(SUPERGRAPH.read_text())

    return create_app(engine, _settings())
