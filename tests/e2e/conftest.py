"""Fixtures of the end-to-end tests: whole stacks of real processes, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack

StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(infra: Any, tmp_path: Path) -> Iterator[StackFactory]:
    """Configures stacks against the session's infra; every process they start is stopped.

    Call it with extra ``THREADLINE_*`` settings as keyword arguments; start the
    processes with the returned stack's ``start_services`` / ``start_gateway``.
    """
    stacks: list[Stack] = []

    def configure(**extra: str) -> Stack:
        workdir = tmp_path / f"stack{len(stacks)}"
        workdir.mkdir()
        stack = Stack.configure(workdir, infra.amqp_url, infra.mongodb_url, **extra)
        stacks.append(stack)
        return stack

    try:
        yield configure
    finally:
        for stack in reversed(stacks):
            stack.stop()
