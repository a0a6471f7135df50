"""Gateway apps served by a live uvicorn for integration tests, and the server runner.

Factories (``uvicorn --factory``): ``fake_app`` and ``federation_app`` allow anonymous
access (the graphql-http audit sends no credentials); ``secured_app`` requires HS256
bearer tokens signed with the unit tests' secret.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette

from gateway.http import create_app
from gateway.settings import GatewaySettings
from tests.unit.gateway_http.gateway_http_fakes import FakeEngine, settings

ROOT = Path(__file__).resolve().parents[3]
# The federation engine's own test supergraph; the audit only needs its API schema.
SUPERGRAPH = ROOT / "tests" / "unit" / "gateway_engine" / "fixtures" / "shop.graphql"


def _anonymous() -> GatewaySettings:
    return GatewaySettings(
        auth_required=False, rate_limit_per_second=0.0, environment="development"
    )


def fake_app() -> Starlette:
    return create_app(FakeEngine(), _anonymous())


def federation_app() -> Starlette:
    from gateway.federation_engine import FederationEngine

    async def engine() -> FederationEngine:
        return FederationEngine(SUPERGRAPH.read_text())

    return create_app(engine, _anonymous())


def secured_app() -> Starlette:
    return create_app(FakeEngine(), settings(sse_keepalive_seconds=0.2))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(factory: str) -> Iterator[str]:
    """Run ``factory`` (a name in this module) under uvicorn; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            f"tests.integration.gateway_http.gateway_http_apps:{factory}",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not get ready within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
