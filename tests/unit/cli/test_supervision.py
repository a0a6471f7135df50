"""How ``threadline up`` supervises its processes: restart with backoff, say so, give up on
a crash loop. Fake processes and a fake clock; real processes are the e2e tier's job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from threadline.devinfra import InfraError
from threadline.supervision import Backoff, CrashLoopError, Supervisor, describe_exit


@dataclass
class FakeProcess:
    pid: int | None = 100
    log: Path = Path("/logs/fake.log")
    code: int | None = None
    restarts: int = 0
    fail_restarts: int = 0

    def exit_code(self) -> int | None:
        return self.code

    def restart(self) -> None:
        if self.fail_restarts:
            self.fail_restarts -= 1
            raise InfraError("port 5682 is taken")
        self.restarts += 1
        self.pid = 100 + self.restarts
        self.code = None

    def tail(self, lines: int = 30) -> str:
        return "Traceback: boom"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    said: list[str] = field(default_factory=list)

    def supervisor(self, **units: FakeProcess) -> Supervisor:
        return Supervisor(units, self.said.append, Backoff(), clock=self.clock)


def test_a_killed_process_is_reported_and_restarted_after_the_backoff() -> None:
    world = World()
    profile, gateway = FakeProcess(), FakeProcess()
    supervisor = world.supervisor(profile=profile, gateway=gateway)
    assert supervisor.check() is False

    profile.code = -9
    world.clock.now = 5.0
    assert supervisor.check() is False
    assert world.said[0].startswith("profile was killed by SIGKILL; restarting it in 1s")
    assert "Last lines of /logs/fake.log:\nTraceback: boom" in world.said[0]
    assert profile.restarts == 0

    world.clock.now = 5.5
    assert supervisor.check() is False  # not yet due
    world.clock.now = 6.0
    assert supervisor.check() is True
    assert profile.restarts == 1
    assert world.said[-1] == "profile restarted (pid 101)."
    assert gateway.restarts == 0


def test_crashes_in_a_row_double_the_delay_up_to_the_longest() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_process_that_stayed_up_long_enough_starts_counting_from_one_again() -> None:
    world = World()
    scoring = FakeProcess()
    supervisor = world.supervisor(scoring=scoring)
    for crash in range(1, 4):
        scoring.code = 1
        supervisor.check()
        world.clock.now += Backoff().delay(crash)
        supervisor.check()
    assert "restarting it in 4s (crash 3 in a row" in world.said[-2]

    world.clock.now += 61  # up for more than stable_after
    scoring.code = 1
    supervisor.check()
    assert "exited with code 1; restarting it in 1s (crash 1 in a row" in world.said[-1]


def test_a_crash_loop_stops_supervision_with_what_to_do() -> None:
    world = World()
    journey = FakeProcess()
    supervisor = world.supervisor(journey=journey)
    for crash in range(1, 6):
        journey.code = 3
        supervisor.check()
        world.clock.now += Backoff().delay(crash)
        supervisor.check()
    assert journey.restarts == 5
    journey.code = 3
    with pytest.raises(CrashLoopError, match=r"journey exited with code 3, its 6th crash in a row"):
        supervisor.check()


def test_a_restart_that_fails_counts_as_a_crash_and_is_retried_later() -> None:
    world = World()
    rabbitmq = FakeProcess(fail_restarts=1)
    supervisor = world.supervisor(rabbitmq=rabbitmq)
    rabbitmq.code = -9
    supervisor.check()
    world.clock.now = 1.0
    assert supervisor.check() is False
    assert (
        "rabbitmq could not be restarted (port 5682 is taken); restarting it in 2s"
        in (world.said[-1])
    )
    world.clock.now = 3.0
    assert supervisor.check() is True
    assert rabbitmq.restarts == 1


@pytest.mark.parametrize(
    ("code", "text"),
    [(-9, "was killed by SIGKILL"), (-15, "was killed by SIGTERM"), (2, "exited with code 2")],
)
def test_exits_are_described_as_a_person_would(code: int, text: str) -> None:
    assert describe_exit(code) == text
