"""``threadline up`` as a person runs it: it prints URLs that work, and Ctrl-C stops everything.

It starts its own RabbitMQ node and SecantusDB in a temporary data directory on
free ports, the three services and the gateway, and loads a small demo set.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from shared.auth import issue_token
from threadline.devinfra import free_port
from threadline.simulation.personas import draw_persona
from threadline.up import READY_LINE, STATE_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

THREADLINE = str(Path(sys.executable).parent / "threadline")
SEED = 5


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


class Output:
    """Collects a process's output lines on a thread so the test can wait for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._pump, args=(self._stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout}s; output:\n" + self.text())

    def drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def close(self) -> None:
        """After the process is gone: the pump reaches end of file, then the pipe closes."""
        self._thread.join(timeout=30)
        self._stream.close()

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, Path, dict[str, int]]]:
    ports = {name: free_port() for name in ("gateway", "profile", "journey", "scoring")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env.update({f"THREADLINE_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [THREADLINE, "up", "--data-dir", str(data_dir), "--amqp-port", str(free_port()),
         "--mongodb-port", str(free_port()), "--demo-customers", "3", "--seed", str(SEED)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    output = Output(process)
    try:
        yield process, output, data_dir, ports
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output.close()


def _graphql(url: str, token: str, query: str) -> dict[str, object]:
    response = httpx.post(
        url,
        json={"query": query},
        headers={"authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_up_serves_the_urls_it_prints_and_ctrl_c_stops_every_process(
    up: tuple[subprocess.Popen[str], Output, Path, dict[str, int]],
) -> None:
    process, output, data_dir, ports = up
    output.wait_for(READY_LINE, timeout=400)
    text = output.text()
    gateway_url = re.search(r"GraphQL \(gateway\):\s+(\S+)", text)
    collection_url = re.search(r"Collection API:\s+(\S+)", text)
    write_key = re.search(r"Write key:\s+(\S+)", text)
    assert gateway_url is not None
    assert collection_url is not None
    assert write_key is not None
    assert gateway_url.group(1) == f"http://localhost:{ports['gateway']}/graphql"
    state = orjson.loads((data_dir / STATE_FILE).read_bytes())
    groups = [int(pid) for pid in state["processes"].values()]
    assert set(state["processes"]) >= {"rabbitmq", "secantusdb", "profile", "journey",
                                       "scoring", "gateway"}  # fmt: skip

    # The printed write key works on the printed collection API.
    accepted = httpx.post(
        f"{collection_url.group(1)}/track",
        json={"userId": "e2e-up-user", "event": "Product Viewed", "properties": {"sku": "X"}},
        auth=(write_key.group(1), ""),
        timeout=10.0,
    )
    assert accepted.status_code == 200, accepted.text

    # A demo customer shows up in the graph, found by the email they signed up with.
    secret = (data_dir / "jwt-secret").read_text().strip()
    token = issue_token(secret, ["customers:read", "pii:read"])
    email = draw_persona(random.Random(f"threadline-simulation:{SEED}:0"), 0).email.strip().lower()
    lookup = f'customerByIdentity(type: "email", value: "{email}")'
    query = f"{{ {lookup} {{ id identities {{ type value }} }} }}"
    deadline = time.monotonic() + 180
    customer = None
    while customer is None and time.monotonic() < deadline:
        data = _graphql(gateway_url.group(1), token, query).get("data") or {}
        customer = data.get("customerByIdentity") if isinstance(data, dict) else None
        if customer is None:
            time.sleep(1.0)
    assert isinstance(customer, dict), f"demo customer {email} never appeared"
    assert customer["id"]
    identities = [(i["type"], i["value"]) for i in customer["identities"]]
    assert ("email", email) in identities, customer

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=180) == 0
    output.drain()
    assert "Stopped." in output.text()
    assert not (data_dir / STATE_FILE).exists()
    leftovers = {pgid: _group_members(pgid) for pgid in groups}
    assert all(not members for members in leftovers.values()), leftovers
    # The data stays for the next run.
    assert (data_dir / "rabbitmq").is_dir()
    assert (data_dir / "mongodb").is_dir()
    assert (data_dir / "demo-loaded").exists()


def _state(data_dir: Path) -> dict[str, int]:
    processes: dict[str, int] = orjson.loads((data_dir / STATE_FILE).read_bytes())["processes"]
    return processes


def _restarted(output: Output, data_dir: Path, name: str, old_pid: int) -> int:
    """Wait for ``threadline up`` to say it restarted ``name``; its new pid from up.json."""
    output.wait_for(f"{name} was killed by SIGKILL; restarting it in", timeout=30)
    output.wait_for(f"{name} restarted (pid", timeout=300)
    deadline = time.monotonic() + 10
    while _state(data_dir)[name] == old_pid:
        assert time.monotonic() < deadline, f"up.json still names the old {name} pid"
        time.sleep(0.2)
    return _state(data_dir)[name]


def _eventually_ok(send: Callable[[], httpx.Response], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = send()
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(1.0)
    raise AssertionError(f"not 200 within {timeout}s: {last}")


def _private(data_dir: Path) -> list[str]:
    loose = []
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            loose.append(f"{path.relative_to(data_dir)} {stat.filemode(mode)}")
    return loose


def test_up_restarts_killed_processes_and_ctrl_c_still_stops_every_one(
    up: tuple[subprocess.Popen[str], Output, Path, dict[str, int]],
) -> None:
    process, output, data_dir, ports = up
    output.wait_for(READY_LINE, timeout=400)
    first = _state(data_dir)
    groups = set(first.values())
    write_key = (data_dir / "write-key").read_text().strip()

    def track() -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{ports['profile']}/v1/track",
            json={"userId": "e2e-supervised", "event": "Product Viewed"},
            auth=(write_key, ""),
            timeout=10.0,
        )

    # A service killed outright comes back on its port; the rest of the suite stays up.
    os.kill(first["profile"], signal.SIGKILL)
    groups.add(_restarted(output, data_dir, "profile", first["profile"]))
    _eventually_ok(lambda: httpx.get(f"http://127.0.0.1:{ports['profile']}/readyz"), 120)
    assert process.poll() is None

    # The broker: killing its start script leaves the Erlang VM behind; the restart must
    # replace it, and the services publish through the new node.
    os.kill(first["rabbitmq"], signal.SIGKILL)
    groups.add(_restarted(output, data_dir, "rabbitmq", first["rabbitmq"]))
    assert _group_members(first["rabbitmq"]) == [], "the old broker is still running"
    _eventually_ok(track, 180)

    os.kill(first["secantusdb"], signal.SIGKILL)
    groups.add(_restarted(output, data_dir, "secantusdb", first["secantusdb"]))
    _eventually_ok(lambda: httpx.get(f"http://127.0.0.1:{ports['profile']}/readyz"), 120)
    assert process.poll() is None

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=180) == 0
    output.drain()
    assert "Stopped." in output.text()
    leftovers = {pgid: _group_members(pgid) for pgid in groups}
    assert all(not members for members in leftovers.values()), leftovers
    # Credentials, queues, documents and logs are the user's only.
    assert _private(data_dir) == []
