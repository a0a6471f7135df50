"""``threadline serve`` and ``threadline worker``: one service's API or consumers as a process.

Both only wire settings into ``services.<svc>.bootstrap``; everything about the
service itself lives there (create_app / run_worker, see the foundation notes).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, cast

from shared.errors import ConfigurationError
from shared.logging import setup_logging
from shared.settings import Settings
from shared.telemetry import setup_tracing
from threadline.suite import service_port


def bootstrap_module(service: str) -> ModuleType:
    try:
        return importlib.import_module(f"services.{service}.bootstrap")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"services.{service}"):
            raise ConfigurationError(
                f"service {service!r} has no services/{service}/bootstrap.py in this install"
            ) from exc
        raise


def _configure(settings: Settings, process: str) -> None:
    setup_logging(process, settings.log_level)
    setup_tracing(process, otlp_endpoint=settings.otlp_endpoint)


def serve(service: str, *, port: int | None, host: str, with_worker: bool) -> int:
    import uvicorn

    settings = Settings()
    if port is not None:
        # The port is also what the service advertises and what its worker's health
        # port derives from, so it goes into the settings rather than only into uvicorn.
        settings = settings.model_copy(update={f"{service}_port": port})
    _configure(settings, f"threadline-{service}")
    app = bootstrap_module(service).create_app(settings, with_worker=with_worker)
    uvicorn.run(
        app,
        host=host,
        port=service_port(settings, service),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0


def worker(service: str, *, host: str | None = None) -> int:
    settings = Settings()
    if host is not None:
        settings = settings.model_copy(update={"worker_health_host": host})
    _configure(settings, f"threadline-{service}-worker")
    run_worker = cast(
        Callable[[Settings, asyncio.Event], Awaitable[None]],
        bootstrap_module(service).run_worker,
    )
    run_until_signalled(lambda stop: run_worker(settings, stop))
    return 0


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[Any]]) -> None:
    """Run ``main(stop)`` on uvloop; SIGTERM and SIGINT set ``stop`` for a clean shutdown."""
    import uvloop

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await main(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner_:
        runner_.run(runner())
