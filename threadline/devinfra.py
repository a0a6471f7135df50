"""Local RabbitMQ and MongoDB-compatible servers as child processes we own.

RabbitMQ is Debian's ``rabbitmq-server`` started as our own node — its own node
name, ports, data directory and Erlang cookie — so it never clashes with a
system broker. MongoDB is SecantusDB (a MongoDB wire-protocol server on
WiredTiger) unless ``THREADLINE_MONGODB_URL`` points elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from threadline.private import PRIVATE_UMASK, private_dir, write_private

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
PLUGINS = "[rabbitmq_consistent_hash_exchange]."
LOOPBACK = "127.0.0.1"
# Erlang distribution (the node's own port, and rabbitmqctl's while it runs) on loopback only.
LOOPBACK_DIST_ARGS = "-kernel inet_dist_use_interface {127,0,0,1}"


class InfraError(RuntimeError):
    """A local server could not be installed, started or stopped."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise InfraError(f"server exited with code {process.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise InfraError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


class LocalServer:
    """What both local servers share: one process group under ``base``, watched and
    restarted by ``threadline up``."""

    base: Path
    process: subprocess.Popen[bytes] | None

    def start(self, timeout: float = 60.0) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def exit_code(self) -> int | None:
        """None while the server runs; its exit status (reaping it) once it has ended."""
        return None if self.process is None else self.process.poll()

    def restart(self) -> None:
        """Start again after the server ended: whatever is left of its process group (the
        broker's Erlang VM outlives a killed ``rabbitmq-server`` script) is killed first, so
        the new server gets the ports and no old process is left untracked."""
        if self.process is not None:
            _terminate(self.process, sig=signal.SIGKILL)
            self.process = None
        self.start(timeout=120)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class RabbitNode(LocalServer):
    """A private RabbitMQ node with the consistent-hash exchange plugin enabled."""

    base: Path
    port: int
    name: str = "threadline"
    dist_port: int = 0
    """The Erlang distribution port; 0 picks a free one, again at each start (the one
    freed by a crashed node is any process's to take meanwhile)."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _pick_dist_port: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.dist_port < 65536:
            raise InfraError(
                f"dist_port {self.dist_port} is not a TCP port: pass 1-65535, or 0 for a free one"
            )
        # Not derived from the AMQP port: AMQP port + 20000 overflows above 45535, and the
        # node then dies at boot with invalid_dist_port_range.
        self._pick_dist_port = self.dist_port == 0
        self.dist_port = self.dist_port or free_port()

    @property
    def nodename(self) -> str:
        return f"{self.name}-{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def environment(self) -> dict[str, str]:
        """What ``rabbitmq-server`` and ``rabbitmqctl`` run with: everything under ``base``,
        every listener on loopback."""
        env = dict(os.environ)
        env.update(
            HOME=str(self.base),
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=LOOPBACK_DIST_ARGS,
            RABBITMQ_CTL_ERL_ARGS=LOOPBACK_DIST_ARGS,
            # An epmd started by this node listens on loopback only (a running one is reused).
            ERL_EPMD_ADDRESS=LOOPBACK,
            # A crash dump stays with the node, never in the directory we were started from.
            ERL_CRASH_DUMP=str(self.base / "erl_crash.dump"),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.base / "rabbitmq.pid"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(self.base / "plugins-expand"),
            RABBITMQ_LOGS="-",
        )
        return env

    def start(self, timeout: float = 60.0) -> None:
        server = RABBIT_BIN / "rabbitmq-server"
        if not server.exists():
            raise InfraError(
                "rabbitmq-server is not installed: run `make install` (apt-get install "
                "rabbitmq-server) or set THREADLINE_AMQP_URL to an existing broker"
            )
        private_dir(self.base)
        if self._pick_dist_port:
            self.dist_port = free_port()
        self._await_name_free(timeout=15.0)
        write_private(self.base / "enabled_plugins", PLUGINS)
        write_private(
            self.base / "rabbitmq.conf",
            f"listeners.tcp.1 = {LOOPBACK}:{self.port}\n"
            "loopback_users = none\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
            # The local node must keep accepting publishes on a nearly full dev disk.
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.3\n",
        )
        write_private(self.base / "rabbitmq-env.conf", "")
        write_private(self.base / "advanced.config", "[].\n")
        self.process = _spawn([str(server)], self.base, self.environment())
        wait_for_port(self.port, timeout, self.process)
        # Something else may have taken a port picked by free_port() before the broker
        # bound it: only the node itself saying it has booted proves the URL is ours.
        try:
            self.ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 5)
        except (InfraError, subprocess.TimeoutExpired) as exc:
            self.kill()
            raise InfraError(
                f"RabbitMQ node {self.nodename} did not boot: {exc}\n"
                f"Last lines of {self.log}:\n{self.tail()}"
            ) from exc

    def _await_name_free(self, timeout: float) -> None:
        """Wait until epmd has forgotten a previous VM of this node (killed just before, its
        name is released when epmd notices): a node started meanwhile boots without
        distribution, unreachable by ``rabbitmqctl``."""
        name = self.nodename.partition("@")[0]
        deadline = time.monotonic() + timeout
        while epmd_knows(name):
            if time.monotonic() > deadline:
                raise InfraError(
                    f"a node named {name} is still registered with epmd after {timeout:.0f}s: "
                    "stop the other RabbitMQ node on this AMQP port, or pick another port"
                )
            time.sleep(0.1)

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.nodename, *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(InfraError, subprocess.TimeoutExpired):
                self.ctl("stop", timeout=30)
        _terminate(self.process)
        self.process = None

    def kill(self) -> None:
        """Stop abruptly, as a crash would (for reliability tests)."""
        if self.process is not None:
            _terminate(self.process, sig=signal.SIGKILL)
            self.process = None


def epmd_knows(name: str) -> bool:
    """Whether the local epmd has a node called ``name`` registered (PORT_PLEASE2_REQ)."""
    port = int(os.environ.get("ERL_EPMD_PORT") or 4369)
    request = b"z" + name.encode()
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2.0) as sock:
            sock.sendall(len(request).to_bytes(2, "big") + request)
            reply = sock.recv(2)
    except OSError:  # no epmd: nothing is registered
        return False
    return reply[:1] == b"w" and reply[1:2] == b"\x00"


@dataclass
class SecantusServer(LocalServer):
    """SecantusDB, a MongoDB wire-protocol server on WiredTiger, as a local process."""

    base: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> None:
        launcher = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
        if not Path(launcher).exists():
            raise InfraError("SecantusDB is not installed: run `make install`")
        private_dir(self.base)
        command = [
            launcher,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.base / "data"),
            "--log-level", "WARNING",
        ]  # fmt: skip
        self.process = _spawn(command, self.base, dict(os.environ))
        wait_for_port(self.port, timeout, self.process)
        self._await_ping(timeout)

    def _await_ping(self, timeout: float) -> None:
        """Our server answers ``ping``: not some other process that took the port first."""
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(
            self.url, serverSelectionTimeoutMS=int(timeout * 1000)
        )
        try:
            client.admin.command("ping")
        except PyMongoError as exc:
            self.stop()
            raise InfraError(f"SecantusDB on port {self.port} does not answer: {exc}") from exc
        finally:
            client.close()
        if self.process is None or self.process.poll() is not None:
            raise InfraError(f"SecantusDB exited; port {self.port} belongs to another process")

    def stop(self) -> None:
        if self.process is not None:
            _terminate(self.process)
            self.process = None

    def kill(self) -> None:
        """Stop abruptly, as a crash would (for reliability tests); ``start`` reopens the
        same data directory, recovering from WiredTiger's journal."""
        if self.process is not None:
            _terminate(self.process, sig=signal.SIGKILL)
            self.process = None


def _spawn(command: list[str], base: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A server in its own session, working in ``base``, logging to ``base/server.log``,
    creating only private files."""
    log = os.open(base / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            command,
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )
    finally:
        os.close(log)


def _terminate(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process's whole group and reap it; with the leader already gone, kill
    what is left of the group (an orphaned child still holding the server's ports)."""
    if process.poll() is not None:
        _kill_group(process.pid)
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    _kill_group(process.pid)


def _kill_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process left in group ``pgid`` and wait until none runs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # gone (or the id is someone else's)
            return
        if not live_group_members(pgid):  # only zombies left, for their parents to reap
            return
        if time.monotonic() > deadline:
            raise InfraError(f"processes {live_group_members(pgid)} survived SIGKILL")
        time.sleep(0.05)


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (from /proc; empty without it)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members
