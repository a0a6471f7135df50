"""Keeping ``threadline up``'s processes running: a crashed one is restarted, with backoff.

A process that exits on its own (killed, out of memory, a crash) is reported with
the last lines of its log and started again after a delay that doubles with each
crash in a row (1 s, 2 s, 4 s … at most 30 s). One that then stays up for a
minute counts as healthy again. One that keeps crashing — more than
``give_up_after`` times in a row — is a fault to fix, not to retry: supervision
raises :class:`CrashLoopError` and ``threadline up`` stops everything.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.errors import ThreadlineError
from threadline.devinfra import InfraError


class Supervised(Protocol):
    """A process ``threadline up`` started (a service, the gateway, the broker, the database)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def log(self) -> Path: ...

    def exit_code(self) -> int | None:
        """None while it runs; its exit status (reaping it) once it has ended."""

    def restart(self) -> None:
        """Start it again after it ended (raising when it cannot start)."""

    def tail(self, lines: int = 30) -> str: ...


class CrashLoopError(ThreadlineError):
    """A process crashed too often in a row to keep restarting it."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before a restart, and when to stop trying."""

    first: float = 1.0
    factor: float = 2.0
    longest: float = 30.0
    stable_after: float = 60.0
    """A process up this long has recovered: its next crash counts as the first again."""
    give_up_after: int = 5
    """Crashes in a row that are still restarted; one more is a crash loop."""

    def delay(self, crashes: int) -> float:
        """The wait before restarting after the ``crashes``-th crash in a row (from 1)."""
        return float(min(self.first * self.factor ** (crashes - 1), self.longest))


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass(slots=True)
class _Watch:
    name: str
    unit: Supervised
    started_at: float
    crashes: int = 0
    restart_at: float | None = None


class Supervisor:
    """Restarts the processes it watches when they end; call :meth:`check` periodically."""

    def __init__(
        self,
        units: Mapping[str, Supervised],
        say: Callable[[str], None],
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff = backoff or Backoff()
        self._say = say
        self._clock = clock
        now = clock()
        self._watches = [_Watch(name, unit, started_at=now) for name, unit in units.items()]

    def check(self) -> bool:
        """One round: note what ended, restart what is due. True when a process was
        restarted (its pid changed); raises :class:`CrashLoopError` on a crash loop."""
        restarted = False
        for watch in self._watches:
            now = self._clock()
            if watch.restart_at is None:
                code = watch.unit.exit_code()
                if code is not None:
                    self._crashed(watch, describe_exit(code), now, with_log=True)
            elif now >= watch.restart_at:
                restarted = self._restart(watch, now) or restarted
        return restarted

    def _crashed(self, watch: _Watch, what: str, now: float, *, with_log: bool) -> None:
        recovered = now - watch.started_at >= self.backoff.stable_after
        watch.crashes = 1 if recovered else watch.crashes + 1
        log = f"\nLast lines of {watch.unit.log}:\n{watch.unit.tail()}" if with_log else ""
        if watch.crashes > self.backoff.give_up_after:
            raise CrashLoopError(
                f"{watch.name} {what}, its {watch.crashes}th crash in a row; not restarting "
                f"it again. Fix the cause (see {watch.unit.log}) and run `threadline up` "
                f"again.{log}"
            )
        delay = self.backoff.delay(watch.crashes)
        watch.restart_at = now + delay
        self._say(
            f"{watch.name} {what}; restarting it in {delay:g}s "
            f"(crash {watch.crashes} in a row, {self.backoff.give_up_after} allowed).{log}"
        )

    def _restart(self, watch: _Watch, now: float) -> bool:
        watch.restart_at = None
        watch.started_at = now
        try:
            watch.unit.restart()
        except (ThreadlineError, InfraError, OSError) as exc:
            self._crashed(watch, f"could not be restarted ({exc})", self._clock(), with_log=True)
            return False
        self._say(f"{watch.name} restarted (pid {watch.unit.pid}).")
        return True
