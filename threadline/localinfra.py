"""RabbitMQ and the database for a local deployment, kept under the data directory.

A server whose URL the environment gives (``THREADLINE_AMQP_URL``,
``THREADLINE_MONGODB_URL``) is used as it is and never started or stopped here.
Otherwise our own node runs on fixed ports with its data in ``<data>/rabbitmq``
and ``<data>/mongodb``, so queues and documents survive between runs.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from threadline.devinfra import InfraError, LocalServer, RabbitNode, SecantusServer


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LocalInfra:
    data_dir: Path
    amqp_port: int = 5682
    amqp_dist_port: int = 0
    """0: a free port, picked when the node is created."""
    mongodb_port: int = 27027
    environ: Mapping[str, str] = field(default_factory=dict)
    rabbit: RabbitNode | None = None
    mongo: SecantusServer | None = None
    amqp_url: str = ""
    mongodb_url: str = ""

    def start(self) -> None:
        """Start what the environment does not provide; on failure, stop what did start."""
        try:
            self.amqp_url = self.environ.get("THREADLINE_AMQP_URL", "")
            if not self.amqp_url:
                self._check_free(self.amqp_port, "RabbitMQ", "--amqp-port")
                self.rabbit = RabbitNode(
                    self.data_dir / "rabbitmq", port=self.amqp_port, dist_port=self.amqp_dist_port
                )
                self.rabbit.start(timeout=120)
                self.amqp_url = self.rabbit.url
            self.mongodb_url = self.environ.get("THREADLINE_MONGODB_URL", "")
            if not self.mongodb_url:
                self._check_free(self.mongodb_port, "SecantusDB", "--mongodb-port")
                self.mongo = SecantusServer(self.data_dir / "mongodb", port=self.mongodb_port)
                self.mongo.start(timeout=120)
                self.mongodb_url = self.mongo.url
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _check_free(port: int, what: str, flag: str) -> None:
        if port_in_use(port):
            raise InfraError(
                f"port {port} for {what} is already in use — is another `threadline up` "
                f"running? Stop it, or pass {flag} with a free port"
            )

    def stop(self) -> None:
        if self.rabbit is not None:
            self.rabbit.stop()
            self.rabbit = None
        if self.mongo is not None:
            self.mongo.stop()
            self.mongo = None

    def started(self) -> dict[str, LocalServer]:
        """The servers this object started (not those the environment named)."""
        servers: dict[str, LocalServer] = {}
        if self.rabbit is not None:
            servers["rabbitmq"] = self.rabbit
        if self.mongo is not None:
            servers["secantusdb"] = self.mongo
        return servers

    def started_pids(self) -> dict[str, int]:
        pids: dict[str, int] = {}
        if self.rabbit is not None and self.rabbit.process is not None:
            pids["rabbitmq"] = self.rabbit.process.pid
        if self.mongo is not None and self.mongo.process is not None:
            pids["secantusdb"] = self.mongo.process.pid
        return pids
