"""``threadline gateway --supergraph FILE`` serves any composed supergraph, not only ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.composition import SubgraphDefinition, compose
from shared.auth import issue_token
from threadline.devinfra import free_port

pytestmark = pytest.mark.slow

THREADLINE = str(Path(sys.executable).parent / "threadline")
SECRET = "gateway-command-secret-" + "x" * 32

# A stranger's subgraph: no Threadline code, no auth of its own.
SUBGRAPH = textwrap.dedent(
    """
    import sys, strawberry, uvicorn
    from strawberry.asgi import GraphQL

    @strawberry.federation.type(keys=["sku"])
    class Product:
        sku: strawberry.ID
        name: str

    @strawberry.type
    class Query:
        @strawberry.field
        def product(self, sku: strawberry.ID) -> Product:
            return Product(sku=sku, name=f"Product {sku}")

    schema = strawberry.federation.Schema(query=Query)
    if sys.argv[1] == "sdl":
        print(schema.as_str())
    else:
        uvicorn.run(GraphQL(schema), host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
    """
)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = _start([sys.executable, "-c", SUBGRAPH, str(port)], dict(os.environ),
                     tmp_path / "subgraph.log")  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        _stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} never became ready:\n{log.read_text()}")


def test_gateway_serves_a_supergraph_file_over_any_subgraph(catalog: str, tmp_path: Path) -> None:
    sdl = subprocess.run(
        [sys.executable, "-c", SUBGRAPH, "sdl"], capture_output=True, text=True, check=True
    ).stdout
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(compose([SubgraphDefinition("catalog", catalog, sdl)]))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_JWT_SECRET"] = SECRET
    log = tmp_path / "gateway.log"
    gateway = _start(
        [THREADLINE, "gateway", "--supergraph", str(supergraph), "--port", str(port)], env, log
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", gateway, log)
        query = {"query": '{ product(sku: "TL-1") { sku name } }'}
        url = f"http://127.0.0.1:{port}/graphql"
        anonymous = httpx.post(url, json=query, timeout=10)
        assert anonymous.status_code == 401
        token = issue_token(SECRET, ["customers:read"])
        answer = httpx.post(
            url, json=query, headers={"authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"data": {"product": {"sku": "TL-1", "name": "Product TL-1"}}}
    finally:
        _stop(gateway)
    # uvicorn finishes the shutdown, then exits by the signal it caught, as a process should.
    assert gateway.returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
