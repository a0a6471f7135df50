"""Child processes that ``threadline up`` starts, watches and stops.

Each child runs in its own session (process group), so Ctrl-C in the terminal
reaches only ``threadline up``, which then stops the children in order — and a
signal to the group also reaches anything a child spawned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.errors import ThreadlineError
from threadline.private import PRIVATE_UMASK, private_dir


class ProcessError(ThreadlineError):
    """A child process failed to start or to become ready."""


@dataclass
class ChildProcess:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        private_dir(self.log.parent)
        out = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.popen = subprocess.Popen(
                list(self.argv),
                env=dict(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                umask=PRIVATE_UMASK,
            )
        finally:
            os.close(out)

    def restart(self) -> None:
        """Start again after the child ended, once what is left of its group is gone."""
        self.stop()
        self.start()

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self, timeout: float = 25.0) -> None:
        """SIGTERM to the child's group, SIGKILL after ``timeout``; always reaps the child."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Whatever the child spawned may outlive it (it died first, or left them behind).
        self._signal(signal.SIGKILL)
        self.popen = None

    def _signal(self, sig: int) -> None:
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def wait_ready(process: ChildProcess, url: str, timeout: float = 120.0) -> None:
    """Poll ``url`` (a /readyz) until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = process.exit_code()
            if code is not None:
                raise ProcessError(
                    f"{process.name} exited with code {code} while starting; last lines of "
                    f"{process.log}:\n{process.tail()}"
                )
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
    raise ProcessError(
        f"{process.name} was not ready at {url} after {timeout:.0f}s ({last}); see {process.log}"
    )
