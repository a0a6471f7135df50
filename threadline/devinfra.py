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

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
PLUGINS = "[rabbitmq_consistent_hash_exchange]."


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


@dataclass
class RabbitNode:
    """A private RabbitMQ node with the consistent-hash exchange plugin enabled."""

    base: Path
    port: int
    name: str = "threadline"
    dist_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def nodename(self) -> str:
        return f"{self.name}-{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=str(self.base),
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port or self.port + 20000),
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
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text(PLUGINS)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
            # The local node must keep accepting publishes on a nearly full dev disk.
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.3\n"
        )
        (self.base / "rabbitmq-env.conf").touch()
        (self.base / "advanced.config").write_text("[].\n")
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(server)],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for_port(self.port, timeout, self.process)
        # Something else may have taken a port picked by free_port() before the broker
        # bound it: only the node itself saying it has booted proves the URL is ours.
        try:
            self.ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 5)
        except (InfraError, subprocess.TimeoutExpired) as exc:
            self.kill()
            raise InfraError(f"RabbitMQ node {self.nodename} did not boot: {exc}") from exc

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.nodename, *args],
            env=self._env(),
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


@dataclass
class SecantusServer:
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
        self.base.mkdir(parents=True, exist_ok=True)
        command = [
            launcher,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.base / "data"),
            "--log-level", "WARNING",
        ]  # fmt: skip
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.base,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
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


def _terminate(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
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
