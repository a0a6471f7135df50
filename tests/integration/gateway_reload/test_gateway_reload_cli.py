"""``threadline gateway --subgraph …`` picks up a redeployed subgraph on SIGHUP or POST."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.gateway_reload.reload_subgraphs import (
    Redeployable,
    serving_on,
    subgraph_a,
)
from threadline.devinfra import free_port

pytestmark = pytest.mark.slow

SECRET = "reload-gateway-secret-at-least-32-bytes"
THREADLINE = Path(sys.executable).with_name("threadline")
ROOT = Path(__file__).resolve().parents[3]
BASIC = '{ product(id: "1") { name price } }'
ADDED = '{ product(id: "2") { name priceWithTax } }'
A_ONLY = '{ product(id: "2") { name } }'


def bearer(scope: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(SECRET, scope.split(), ttl_seconds=600)}"}


@asynccontextmanager
async def gateway(tmp_path: Path, subgraphs: dict[str, str]) -> AsyncIterator[Any]:
    """The CLI gateway in its own process; yields (base URL, process)."""
    port = free_port()
    log_path = tmp_path / "gateway.log"
    log = log_path.open("wb")
    env = {
        **os.environ,
        "THREADLINE_JWT_SECRET": SECRET,
        "THREADLINE_DATA_DIR": str(tmp_path / "data"),
        "THREADLINE_ENVIRONMENT": "development",
    }
    flags = [f"--subgraph={name}={url}" for name, url in subgraphs.items()]
    process = await asyncio.create_subprocess_exec(
        str(THREADLINE), "gateway", *flags, "--port", str(port),
        cwd=ROOT, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                if process.returncode is not None:
                    raise AssertionError(f"gateway exited: {log_path.read_text()[-2000:]}")
                try:
                    if (await client.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the gateway did not get ready in 30 s")
        yield base, process, log_path
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        log.close()


async def ask(client: httpx.AsyncClient, base: str, query: str) -> dict[str, Any]:
    response = await client.post(
        f"{base}/graphql", json={"query": query}, headers=bearer("customers:read")
    )
    body: dict[str, Any] = response.json()
    return body


async def sha(client: httpx.AsyncClient, base: str) -> str:
    return str((await client.get(f"{base}/readyz")).json()["supergraph"]["sha256"])


async def until_sha_changes(client: httpx.AsyncClient, base: str, old: str) -> str:
    for _ in range(100):
        current = await sha(client, base)
        if current != old:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway never swapped its supergraph after SIGHUP")


async def until_reloads(client: httpx.AsyncClient, base: str, outcome: str, count: int) -> float:
    for _ in range(100):
        seen = reload_count((await client.get(f"{base}/metrics")).text, outcome)
        if seen >= count:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"the gateway never counted {count} {outcome} reload(s)")


def reload_count(metrics: str, outcome: str) -> float:
    prefix = f'threadline_gateway_supergraph_reloads_total{{outcome="{outcome}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, metrics
    return float(lines[0].removeprefix(prefix))


async def test_gateway_serves_fields_added_by_a_redeployed_subgraph_after_refresh(
    tmp_path: Path,
) -> None:
    b = Redeployable(free_port())
    async with serving_on(subgraph_a(), free_port()) as url_a:
        try:
            url_b = await b.deploy("v1")
            async with (
                gateway(tmp_path, {"a": url_a, "b": url_b}) as (base, process, log),
                httpx.AsyncClient(timeout=10) as client,
            ):
                first = await ask(client, base, BASIC)
                sha_v1 = await sha(client, base)
                await b.deploy("v2")
                before_refresh = await ask(client, base, ADDED)
                process.send_signal(signal.SIGHUP)
                sha_v2 = await until_sha_changes(client, base, sha_v1)
                after_sighup = await ask(client, base, ADDED)
                again = await client.post(f"{base}/admin/reload", headers=bearer("admin"))
                await b.deploy("broken")
                process.send_signal(signal.SIGHUP)
                failed_by_signal = await until_reloads(client, base, "failed", 1)
                broken = await client.post(f"{base}/admin/reload", headers=bearer("admin"))
                still = await ask(client, base, A_ONLY)
                metrics = (await client.get(f"{base}/metrics")).text
                sha_after_failure = await sha(client, base)
                log_text = log.read_text()
        finally:
            await b.stop()

    assert first == {"data": {"product": {"name": "Product 1", "price": 10}}}
    assert before_refresh["errors"][0]["message"] == (
        "Cannot query field 'priceWithTax' on type 'Product'."
    )
    assert "data" not in before_refresh
    assert after_sighup == {"data": {"product": {"name": "Product 2", "priceWithTax": 30}}}
    assert again.status_code == 200
    assert again.json()["outcome"] == "unchanged"
    assert again.json()["sha256"] == sha_v2
    assert failed_by_signal == 1
    assert broken.status_code == 502
    assert broken.json()["outcome"] == "failed"
    assert broken.json()["sha256"] == sha_v2
    assert any("Product.name" in problem for problem in broken.json()["problems"])
    assert still == {"data": {"product": {"name": "Product 2"}}}
    assert sha_after_failure == sha_v2
    assert reload_count(metrics, "applied") == 1
    assert reload_count(metrics, "unchanged") == 1
    assert reload_count(metrics, "failed") == 2
    failures = [line for line in log_text.splitlines() if "supergraph_reload_failed" in line]
    assert len(failures) == 2
    assert all('"source":"subgraphs a, b"' in line for line in failures)
    assert all("Product.name" in line for line in failures)


async def test_admin_reload_applies_a_redeployed_subgraph_and_requires_admin_scope(
    tmp_path: Path,
) -> None:
    b = Redeployable(free_port())
    async with serving_on(subgraph_a(), free_port()) as url_a:
        try:
            url_b = await b.deploy("v1")
            async with (
                gateway(tmp_path, {"a": url_a, "b": url_b}) as (base, _, _),
                httpx.AsyncClient(timeout=10) as client,
            ):
                await b.deploy("v2")
                before_refresh = await ask(client, base, ADDED)
                anonymous = await client.post(f"{base}/admin/reload")
                reader = await client.post(f"{base}/admin/reload", headers=bearer("customers:read"))
                still_old = await ask(client, base, ADDED)
                applied = await client.post(f"{base}/admin/reload", headers=bearer("admin"))
                served = await ask(client, base, ADDED)
                status = await client.get(f"{base}/admin/supergraph", headers=bearer("admin"))
        finally:
            await b.stop()

    assert "errors" in before_refresh
    assert anonymous.status_code == 401
    assert reader.status_code == 403
    assert still_old == before_refresh
    assert applied.status_code == 200
    assert applied.json()["outcome"] == "applied"
    assert served == {"data": {"product": {"name": "Product 2", "priceWithTax": 30}}}
    assert status.json()["sha256"] == applied.json()["sha256"]
    assert status.json()["source"] == "subgraphs a, b"
