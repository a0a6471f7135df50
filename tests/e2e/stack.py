"""The whole suite as real processes on free ports: the three services and the gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from threadline.devinfra import free_port

THREADLINE = str(Path(sys.executable).parent / "threadline")
SERVICES = ("profile", "journey", "scoring")


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def send(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is None:
            return
        self.send(sig)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.popen.wait(timeout=10)
        self.popen = None


@dataclass
class Stack:
    """Launches and stops the processes; ``env`` is what every process is configured with."""

    workdir: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    @classmethod
    def configure(cls, workdir: Path, amqp_url: str, mongodb_url: str, **extra: str) -> Stack:
        ports = {name: free_port() for name in (*SERVICES, "gateway")}
        env = dict(os.environ)
        env.update(
            THREADLINE_AMQP_URL=amqp_url,
            THREADLINE_MONGODB_URL=mongodb_url,
            THREADLINE_WRITE_KEYS="e2e-write-key",
            THREADLINE_JWT_SECRET="e2e-secret-" + "x" * 32,
            THREADLINE_DATA_DIR=str(workdir),
            THREADLINE_PROFILE_PORT=str(ports["profile"]),
            THREADLINE_JOURNEY_PORT=str(ports["journey"]),
            THREADLINE_SCORING_PORT=str(ports["scoring"]),
            THREADLINE_GATEWAY_PORT=str(ports["gateway"]),
            THREADLINE_RETRY_DELAY_MS="200",
        )
        env.update(extra)
        return cls(workdir=workdir, env=env, ports=ports)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def add(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Process:
        process = Process(
            name, [THREADLINE, *args], {**self.env, **(env or {})}, self.workdir / f"{name}.log"
        )
        self.processes[name] = process
        return process

    def start_services(self, *, separate_workers: bool = False) -> None:
        for service in SERVICES:
            port = str(self.ports[service])
            if separate_workers:
                self.add(service, "serve", service, "--port", port).start()
                self.add(f"{service}-worker", "worker", service).start()
            else:
                self.add(service, "serve", service, "--port", port, "--with-worker").start()
        for service in SERVICES:
            self.wait_ready(self.url(service))
            if separate_workers:
                self.wait_ready(f"http://127.0.0.1:{self.ports[service] + 100}")

    def start_gateway(self) -> None:
        self.add("gateway", "gateway", "--port", str(self.ports["gateway"])).start()
        self.wait_ready(self.url("gateway"))

    def wait_ready(self, base_url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            exited = [
                f"{p.name} (exit code {p.popen.returncode})"
                for p in self.processes.values()
                if p.popen is not None and p.popen.poll() is not None
            ]
            if exited:
                # A process that died while starting will not become ready: say so at once.
                raise RuntimeError(f"{', '.join(exited)} exited while starting\n{self.logs()}")
            try:
                response = httpx.get(f"{base_url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise RuntimeError(f"{base_url} not ready after {timeout}s: {last}\n{self.logs()}")

    def logs(self, tail: int = 40) -> str:
        parts = []
        for process in self.processes.values():
            if process.log.exists():
                lines = process.log.read_text(errors="replace").splitlines()[-tail:]
                parts.append(f"--- {process.name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
