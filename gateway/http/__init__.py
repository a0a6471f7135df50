"""The gateway's HTTP layer: GraphQL over HTTP, SSE and WebSocket in front of an ``Engine``."""

from gateway.http.app import EngineFactory, Readiness, create_app

__all__ = ["EngineFactory", "Readiness", "create_app"]
