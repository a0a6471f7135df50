"""Real servers for the whole test session: our own RabbitMQ node and SecantusDB.

When ``THREADLINE_AMQP_URL`` / ``THREADLINE_MONGODB_URL`` are set, those
servers are used instead (the same suite then runs against real clusters).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from threadline.devinfra import InfraError, RabbitNode, SecantusServer, free_port


@dataclass(frozen=True)
class Infra:
    amqp_url: str
    mongodb_url: str
    rabbit: RabbitNode | None
    mongo: SecantusServer | None


Server = TypeVar("Server", RabbitNode, SecantusServer)


def _started(make: Callable[[int], Server], attempts: int = 3) -> Server:
    """Start a server on a free port, again on another one if a process took it meanwhile."""
    for attempt in range(1, attempts + 1):
        server = make(attempt)
        try:
            server.start()
            return server
        except InfraError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    base = Path(tempfile.mkdtemp(prefix="threadline-test-"))
    rabbit = mongo = None
    amqp_url = os.environ.get("THREADLINE_AMQP_URL")
    mongodb_url = os.environ.get("THREADLINE_MONGODB_URL")
    try:
        if not amqp_url:
            rabbit = _started(
                lambda n: RabbitNode(
                    base / f"rabbitmq-{n}", port=free_port(), dist_port=free_port()
                )
            )
            amqp_url = rabbit.url
        if not mongodb_url:
            mongo = _started(lambda n: SecantusServer(base / f"secantus-{n}", port=free_port()))
            mongodb_url = mongo.url
        yield Infra(amqp_url=amqp_url, mongodb_url=mongodb_url, rabbit=rabbit, mongo=mongo)
    finally:
        if rabbit is not None:
            rabbit.stop()
        if mongo is not None:
            mongo.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_leaked_sockets(request: pytest.FixtureRequest) -> Iterator[None]:
    """An integration or end-to-end test leaves no unclosed socket or broker connection.

    Collected right after the test, so a leak fails the test that caused it. A socket
    that a library drops later, when a background connection attempt is cancelled after
    the test ended, is finalized at some random later allocation instead; pyproject's
    ``filterwarnings`` ignores only that late, unattributable case (see its comment).
    """
    yield
    if not (
        request.node.get_closest_marker("integration") or request.node.get_closest_marker("e2e")
    ):
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        warnings.simplefilter("always", RuntimeWarning)
        gc.collect()
        gc.collect()  # a dropped aio-pika connection schedules its close: collect that too
    leaked = [str(w.message) for w in caught if _is_leak(w)]
    known = request.node.get_closest_marker("leaks_sockets")
    if known is not None:
        # A known library leak, named on the test: collected here all the same, so it
        # is not reported from whichever later test happens to collect it.
        leaked = [message for message in leaked if not message.startswith("unclosed <socket")]
    assert not leaked, f"{request.node.nodeid} left resources unclosed: {leaked}"


def _is_leak(caught: warnings.WarningMessage) -> bool:
    """An unclosed socket or file, or a close coroutine nobody awaited (an aio-pika
    connection dropped without ``close``)."""
    if issubclass(caught.category, ResourceWarning):
        return True
    return issubclass(caught.category, RuntimeWarning) and "was never awaited" in str(
        caught.message
    )
