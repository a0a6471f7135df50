"""Pinned child processes for the benchmark: start on a given core, wait until they answer, stop.

Only processes this module started are ever signalled, by their own process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_TICKS = os.sysconf("SC_CLK_TCK")

NICENESS = -5
"""Everything the benchmark starts runs somewhat ahead of other work on the machine (which
shares its two cores), the same for every gateway, subgraph and wrk."""


def pinned_argv(core: int, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", str(core), *argv]


def raise_priority() -> None:
    """``preexec_fn`` for a child started with ``start_new_session=True``.

    With the kernel's autogroup scheduling on, a new session gets its own CPU group and a
    plain ``nice`` only ranks processes inside that group; the group's own niceness
    (``/proc/self/autogroup``) is what ranks it against the rest of the machine. Without
    the privilege for either, the child runs at normal priority.
    """
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as autogroup:
        autogroup.write(str(NICENESS))


class BenchmarkError(Exception):
    """The benchmark cannot run or its results would be wrong; the message says why."""


@dataclass(slots=True)
class Pinned:
    """A child process confined to one CPU core with ``taskset``; its output goes to ``log``."""

    name: str
    argv: Sequence[str]
    core: int
    log: Path
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                pinned_argv(self.core, self.argv),
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches its children
                preexec_fn=raise_priority,
            )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchmarkError(f"{self.name} was never started")
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_answers(child: Pinned, url: str, body: bytes, timeout: float = 60.0) -> None:
    """Poll ``url`` with ``body`` until it answers 200, or fail with the child's log."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise BenchmarkError(f"{child.name} exited during start-up:\n{child.log_tail()}")
            try:
                response = client.post(url, content=body, headers=_JSON)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.25)
    raise BenchmarkError(
        f"{child.name} did not answer {url} within {timeout:.0f}s ({last}):\n{child.log_tail()}"
    )


def core_busy_seconds(core: int) -> float:
    """Busy (non-idle, non-iowait) CPU seconds of ``core`` since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]
            return (sum(values[:8]) - idle) / _TICKS
    raise BenchmarkError(f"/proc/stat has no cpu{core}: this machine needs at least 2 cores")


_JSON = {"content-type": "application/json", "accept": "application/json"}
