"""The child processes ``threadline up`` manages: readiness, early death, orderly stop."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from threadline.devinfra import free_port
from threadline.processes import ChildProcess, ProcessError, wait_ready

SERVER = textwrap.dedent(
    """
    import http.server, subprocess, sys, time
    # A grandchild in the same process group, like a server's own helper process.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ready).serve_forever()
    """
)


def _alive(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def test_a_ready_child_is_stopped_with_everything_it_spawned(tmp_path: Path) -> None:
    port = free_port()
    child = ChildProcess(
        "server", [sys.executable, "-c", SERVER, str(port)], dict(os.environ), tmp_path / "s.log"
    )
    child.start()
    try:
        wait_ready(child, f"http://127.0.0.1:{port}/readyz", timeout=30)
        pgid = child.pid
        assert pgid is not None
        assert len(_alive(pgid)) == 2
    finally:
        child.stop(timeout=10)
    assert _alive(pgid) == []
    assert child.pid is None


def test_a_child_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    child = ChildProcess(
        "broken",
        [sys.executable, "-c", "import sys; print('bad config: THREADLINE_X'); sys.exit(3)"],
        dict(os.environ),
        tmp_path / "broken.log",
    )
    child.start()
    with pytest.raises(ProcessError, match=r"exited with code 3[\s\S]*bad config: THREADLINE_X"):
        wait_ready(child, f"http://127.0.0.1:{free_port()}/readyz", timeout=30)
    child.stop()
