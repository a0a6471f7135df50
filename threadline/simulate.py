"""``threadline simulate``: send simulated customers' behaviour to the collection API.

Generation (:func:`threadline.journeys.generate`) is pure; this module only
chunks the payloads into ``/v1/batch`` requests and sends them, a few at a time,
with the write key as HTTP Basic user the way Segment's SDKs send it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
import orjson

from shared.errors import ThreadlineError
from shared.settings import Settings
from threadline.localstate import write_key as local_write_key
from threadline.simulation import Payload, generate

BATCH_EVENTS = 100
MAX_BATCH_BYTES = 450 * 1024  # under the API's 500 KB limit, with room for the envelope
RETRIED_STATUS = frozenset({429, 502, 503, 504})


class SimulationError(ThreadlineError):
    """The collection API refused the simulated events."""


@dataclass(frozen=True, slots=True)
class SendReport:
    events: int
    batches: int
    rejected: int


def batches(payloads: Sequence[Payload], size: int = BATCH_EVENTS) -> list[bytes]:
    """``/v1/batch`` bodies of at most ``size`` events and ``MAX_BATCH_BYTES`` each."""
    bodies: list[bytes] = []
    current: list[bytes] = []
    current_bytes = 0
    for payload in payloads:
        encoded = orjson.dumps(payload)
        if current and (len(current) >= size or current_bytes + len(encoded) > MAX_BATCH_BYTES):
            bodies.append(_batch_body(current))
            current, current_bytes = [], 0
        current.append(encoded)
        current_bytes += len(encoded) + 1
    if current:
        bodies.append(_batch_body(current))
    return bodies


def _batch_body(events: list[bytes]) -> bytes:
    return b'{"batch":[' + b",".join(events) + b"]}"


async def _post(
    http: httpx.AsyncClient, endpoint: str, write_key: str, body: bytes, attempts: int
) -> int:
    """POST one batch, retrying with backoff on transport errors and retried statuses;
    returns how many of its events the API rejected."""
    delay = 0.25
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = await http.post(
                endpoint,
                content=body,
                auth=(write_key, ""),
                headers={"content-type": "application/json"},
            )
        except httpx.TransportError as exc:
            if last:
                raise SimulationError(f"cannot reach {endpoint}: {exc!r}") from exc
        else:
            if response.status_code < 300:
                return _rejected_count(response)
            if response.status_code not in RETRIED_STATUS or last:
                raise SimulationError(
                    f"{endpoint} answered {response.status_code}: {response.text[:500]}"
                )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
    raise SimulationError(f"{endpoint}: attempts must be at least 1, got {attempts}")


async def send(
    payloads: Sequence[Payload],
    *,
    url: str,
    write_key: str,
    concurrency: int = 4,
    client: httpx.AsyncClient | None = None,
    attempts: int = 8,
) -> SendReport:
    """POST every payload in batches; retries while the API is briefly unavailable.

    Batches go out in time order, ``concurrency`` at a time: events of one
    customer may overtake each other only within that window, as they would
    from several devices.
    """
    bodies = batches(payloads)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    rejected = 0
    endpoint = url.rstrip("/") + "/v1/batch"
    own = client is None
    http = client or httpx.AsyncClient(timeout=30.0)

    async def worker() -> None:
        nonlocal rejected
        while not queue.empty():
            body = queue.get_nowait()
            rejected += await _post(http, endpoint, write_key, body, attempts)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    finally:
        if own:
            await http.aclose()
    return SendReport(events=len(payloads), batches=len(bodies), rejected=rejected)


def _rejected_count(response: httpx.Response) -> int:
    """Events the API turned down inside an otherwise accepted batch (it names them)."""
    try:
        body = response.json()
    except ValueError:
        return 0
    if not isinstance(body, dict):
        return 0
    for key in ("rejected", "errors", "invalid"):
        value = body.get(key)
        if isinstance(value, list):
            return len(value)
        if isinstance(value, int):
            return value
    return 0


def simulate_to(
    url: str,
    write_key: str,
    *,
    customers: int,
    seed: int,
    base_time: datetime | None = None,
    concurrency: int = 4,
) -> SendReport:
    payloads = generate(customers, seed, base_time)
    return asyncio.run(send(payloads, url=url, write_key=write_key, concurrency=concurrency))


def run_simulate(
    *,
    customers: int,
    seed: int,
    url: str | None,
    write_key: str | None,
    concurrency: int,
    dry_run: bool,
) -> int:
    if dry_run:
        out = sys.stdout.buffer
        try:
            for payload in generate(customers, seed):
                out.write(orjson.dumps(payload) + b"\n")
            out.flush()
        except BrokenPipeError:  # `threadline simulate --dry-run | head` is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    settings = Settings()
    target = url or f"http://127.0.0.1:{settings.profile_port}"
    key = write_key or local_write_key(settings)
    report = simulate_to(target, key, customers=customers, seed=seed, concurrency=concurrency)
    print(  # noqa: T201 - the summary is the command's output
        f"sent {report.events} events of {customers} customers in {report.batches} batches "
        f"to {target}/v1/batch; rejected by the API: {report.rejected}"
    )
    return 0 if report.rejected == 0 else 2
