"""Fixtures of the services' integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline.devinfra import SecantusServer, free_port


@pytest.fixture
def secantus(tmp_path: Path) -> Iterator[SecantusServer]:
    """A SecantusDB of the test's own, to kill or to watch: the session's server is shared."""
    server = SecantusServer(tmp_path / "secantus", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
