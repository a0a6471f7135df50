"""Our own RabbitMQ node and SecantusDB, as the session runs them: reachable from this
machine only, and their files readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

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
