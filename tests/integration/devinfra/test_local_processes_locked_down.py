"""Local processes are reachable from this machine only: our own RabbitMQ node and
SecantusDB as the session runs them (their files readable by their owner only), and a
worker's health and metrics server."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from threadline.devinfra import RabbitNode, free_port, live_group_members

pytestmark = pytest.mark.integration

LISTEN = "0A"


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    if len(host) == 8:  # IPv4, little-endian
        host = ".".join(str(int(host[i : i + 2], 16)) for i in (6, 4, 2, 0))
    elif host == "0" * 32:
        host = "::"
    elif host == "0" * 24 + "01000000":
        host = "::1"
    return f"{host}:{int(port, 16)}"


def listening_addresses(pgid: int) -> list[str]:
    """``host:port`` of every TCP socket the process group ``pgid`` listens on."""
    inodes = set().union(*(_socket_inodes(pid) for pid in _group_pids(pgid)))
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                addresses.append(_address(fields[1]))
    return addresses


def test_the_rabbitmq_node_listens_on_loopback_only(infra: Any) -> None:
    if infra.rabbit is None or infra.rabbit.process is None:
        pytest.skip("the broker is external (THREADLINE_AMQP_URL)")
    addresses = listening_addresses(infra.rabbit.process.pid)
    # AMQP and the Erlang distribution port, at least.
    assert f"127.0.0.1:{infra.rabbit.port}" in addresses
    assert f"127.0.0.1:{infra.rabbit.dist_port}" in addresses
    assert all(address.startswith(("127.0.0.1:", "::1:")) for address in addresses), addresses


def test_secantusdb_listens_on_loopback_only(infra: Any) -> None:
    if infra.mongo is None or infra.mongo.process is None:
        pytest.skip("the database is external (THREADLINE_MONGODB_URL)")
    addresses = listening_addresses(infra.mongo.process.pid)
    assert f"127.0.0.1:{infra.mongo.port}" in addresses
    assert all(address.startswith(("127.0.0.1:", "::1:")) for address in addresses), addresses


def _shared_with_others(base: Path) -> list[str]:
    """Everything under ``base`` (itself included) that grants group or other any access."""
    paths = [base, *base.rglob("*")]
    loose = []
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # a server removed it meanwhile
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            loose.append(f"{path.relative_to(base.parent)} {stat.filemode(mode)}")
    return loose


@pytest.mark.parametrize("server", ["rabbit", "mongo"])
def test_server_directories_and_files_are_private_to_their_owner(infra: Any, server: str) -> None:
    started = getattr(infra, server)
    if started is None:
        pytest.skip(f"the {server} server is external")
    assert _shared_with_others(started.base) == []


def test_a_worker_serves_health_and_metrics_on_loopback_only(infra: Any, tmp_path: Path) -> None:
    health_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env.update(
        THREADLINE_AMQP_URL=infra.amqp_url,
        THREADLINE_MONGODB_URL=infra.mongodb_url,
        THREADLINE_JOURNEY_PORT=str(health_port - 100),  # the worker serves on port + 100
        THREADLINE_DATA_DIR=str(tmp_path),
        # Its own queues: other tests declared the default ones with other arguments.
        THREADLINE_EXCHANGE=f"threadline.test.{health_port}",
    )
    threadline = str(Path(sys.executable).parent / "threadline")
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [threadline, "worker", "journey"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{health_port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        addresses = [a for a in listening_addresses(worker.pid) if a.endswith(f":{health_port}")]
        assert addresses == [f"127.0.0.1:{health_port}"]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


@pytest.mark.slow
def test_a_broker_whose_start_script_was_killed_is_replaced_not_left_running(
    tmp_path: Path,
) -> None:
    # A node of its own: the session's broker stays untouched.
    rabbit = RabbitNode(tmp_path / "rabbitmq", port=free_port())
    rabbit.start()
    try:
        assert rabbit.process is not None
        old_group = rabbit.process.pid
        os.kill(old_group, signal.SIGKILL)  # the script dies; its Erlang VM does not
        rabbit.process.wait(timeout=10)
        assert live_group_members(old_group), "expected the VM to outlive its start script"
        assert rabbit.exit_code() == -signal.SIGKILL

        rabbit.restart()

        assert live_group_members(old_group) == []
        assert rabbit.exit_code() is None
        assert rabbit.pid != old_group
        assert "Status of node" in rabbit.ctl("status")
    finally:
        rabbit.stop()
