"""What every Threadline benchmark shares: private servers, service processes, figures.

A benchmark measures our figure and, in the same run on the same machine, the
ceiling it is bounded by (RabbitMQ's own confirmed-publish rate, the database's
own bulk-upsert rate), so the printed ratio means something on any machine.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from threadline.devinfra import free_port
from threadline.localinfra import LocalInfra
from threadline.processes import ChildProcess, wait_ready

SERVICES = ("profile", "journey", "scoring")


class BenchmarkError(Exception):
    """The benchmark cannot run, or its result would be wrong; the message says why."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure beside the ceiling measured in the same run."""

    name: str
    value: float
    unit: str
    ceiling_name: str
    ceiling: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.ceiling if self.ceiling else 0.0


def print_figures(figures: list[Figure]) -> None:
    width = max((len(f.name) for f in figures), default=10)
    for figure in figures:
        print(
            f"{figure.name:<{width}}  {figure.value:>12,.0f} {figure.unit}   "
            f"ceiling ({figure.ceiling_name}): {figure.ceiling:>12,.0f} {figure.unit}   "
            f"ratio {figure.ratio:6.1%}" + (f"   [{figure.note}]" if figure.note else "")
        )
    sys.stdout.flush()


@dataclass
class Stack:
    """RabbitMQ + SecantusDB (or the servers the environment names) and service processes."""

    workdir: Path
    infra: LocalInfra
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[ChildProcess] = field(default_factory=list)

    @property
    def amqp_url(self) -> str:
        return self.infra.amqp_url

    @property
    def mongodb_url(self) -> str:
        return self.infra.mongodb_url

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, name: str, *args: str, ready_port: int | None = None) -> ChildProcess:
        process = ChildProcess(
            name,
            [sys.executable, "-m", "threadline", *args],
            self.env,
            self.workdir / "logs" / f"{name}.log",
        )
        self.processes.append(process)
        process.start()
        if ready_port is not None:
            wait_ready(process, f"http://127.0.0.1:{ready_port}/readyz")
        return process

    def serve(self, service: str, *, with_worker: bool) -> ChildProcess:
        args = ["serve", service, "--port", str(self.ports[service])]
        if with_worker:
            args.append("--with-worker")
        return self.start(service, *args, ready_port=self.ports[service])

    def stop_processes(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


@contextmanager
def stack(**settings: str) -> Iterator[Stack]:
    """A fresh stack in a temporary directory; ``settings`` become THREADLINE_* variables."""
    workdir = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
    infra = LocalInfra(
        workdir, amqp_port=free_port(), mongodb_port=free_port(), environ=dict(os.environ)
    )
    infra.amqp_dist_port = free_port()
    ports = {name: free_port() for name in SERVICES}
    env = dict(os.environ)
    env.update(
        THREADLINE_WRITE_KEYS="bench-write-key",
        THREADLINE_JWT_SECRET="bench-secret-" + "x" * 32,
        THREADLINE_DATA_DIR=str(workdir),
        THREADLINE_LOG_LEVEL="WARNING",
        **{f"THREADLINE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **{f"THREADLINE_{key.upper()}": value for key, value in settings.items()},
    )
    current = Stack(workdir, infra, env, ports)
    try:
        infra.start()
        env.update(THREADLINE_AMQP_URL=infra.amqp_url, THREADLINE_MONGODB_URL=infra.mongodb_url)
        yield current
    finally:
        current.stop_processes()
        infra.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchmarkError(f"{name} is needed for this benchmark: {install_hint}")
    return path


def environment_summary() -> Mapping[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "python": sys.version.split()[0],
    }
