"""``threadline up`` (what ``make up`` runs) and ``threadline infra``.

``up`` brings the whole suite up on this machine — RabbitMQ and SecantusDB
unless the environment names servers, the three services with their workers,
the gateway — loads the demo data once, prints where everything is, and keeps
it running: a process that crashes is restarted with backoff (see
:mod:`threadline.supervision`). On Ctrl-C or SIGTERM it stops every process it
started: the gateway first (it calls the services), then the services, then the
broker and the database. Everything it writes under the data directory is
private to the user (directories 0700, files 0600).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

import orjson

from shared.errors import ConfigurationError
from shared.settings import Settings
from threadline.localinfra import LocalInfra
from threadline.localstate import LocalCredentials, ensure_credentials
from threadline.private import PRIVATE_UMASK, private_dir
from threadline.processes import ChildProcess, wait_ready
from threadline.suite import SERVICES, service_port
from threadline.supervision import CrashLoopError, Supervised, Supervisor

DEMO_MARKER = "demo-loaded"
STATE_FILE = "up.json"
READY_LINE = "Press Ctrl-C to stop."
SAMPLE_EVENT = '{"userId": "u1", "event": "Product Viewed", "properties": {"sku": "TL-1001"}}'


class Stop(Exception):
    """SIGINT or SIGTERM arrived: shut down in order."""


@dataclass(frozen=True, slots=True)
class UpOptions:
    data_dir: Path | None = None
    amqp_port: int = 5682
    mongodb_port: int = 27027
    demo_customers: int = 200
    seed: int = 7


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signals() -> None:
    """Shutting down must not be cut short by a second Ctrl-C."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files created meanwhile (state, markers, logs) are the user's only."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    private_dir(data_dir)
    with (data_dir / "up.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConfigurationError(
                f"another `threadline up` is running on {data_dir}; stop it first"
            ) from exc
        yield


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


class LocalSuite:
    """The processes of one ``threadline up``, started and stopped in order."""

    def __init__(self, settings: Settings, data_dir: Path, infra: LocalInfra) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.infra = infra
        self.children: list[ChildProcess] = []

    def env(self, credentials: LocalCredentials) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            THREADLINE_AMQP_URL=self.infra.amqp_url,
            THREADLINE_MONGODB_URL=self.infra.mongodb_url,
            THREADLINE_JWT_SECRET=credentials.jwt_secret,
            THREADLINE_WRITE_KEYS=",".join(self.settings.write_keys or (credentials.write_key,)),
            THREADLINE_DATA_DIR=str(self.data_dir),
        )
        return env

    def start(self, name: str, args: list[str], env: dict[str, str]) -> ChildProcess:
        child = ChildProcess(
            name,
            [sys.executable, "-m", "threadline", *args],
            env,
            self.data_dir / "logs" / f"{name}.log",
        )
        self.children.append(child)
        child.start()
        return child

    def start_all(self, credentials: LocalCredentials, out: TextIO) -> None:
        env = self.env(credentials)
        starting = []
        for service in SERVICES:
            port = service_port(self.settings, service)
            args = ["serve", service, "--port", str(port), "--with-worker"]
            starting.append((self.start(service, args, env), port))
        for child, port in starting:
            wait_ready(child, f"http://127.0.0.1:{port}/readyz")
            _say(out, f"  {child.name} is ready on port {port}")
        # The gateway composes the subgraphs' schemas when it starts, so it goes last.
        port = self.settings.gateway_port
        gateway = self.start("gateway", ["gateway", "--port", str(port)], env)
        wait_ready(gateway, f"http://127.0.0.1:{port}/readyz")
        _say(out, f"  gateway is ready on port {port}")

    def pids(self) -> dict[str, int]:
        pids = self.infra.started_pids()
        pids.update({child.name: child.pid for child in self.children if child.pid is not None})
        return pids

    def supervised(self) -> dict[str, Supervised]:
        """Every process this run started, the broker and database first."""
        units: dict[str, Supervised] = dict(self.infra.started())
        units.update({child.name: child for child in self.children})
        return units

    def write_state(self, state: Path) -> None:
        """``up.json``: our pid and every child's, rewritten when a restart changes one
        (replaced in one step, so a reader never sees half a file)."""
        partial = state.with_name(state.name + ".partial")
        partial.write_bytes(orjson.dumps({"pid": os.getpid(), "processes": self.pids()}))
        partial.replace(state)

    def supervise(self, state: Path, out: TextIO, poll_seconds: float = 0.5) -> None:
        """Restart what crashes until a signal (:class:`Stop`) or a crash loop ends the run."""
        supervisor = Supervisor(self.supervised(), lambda text: _say(out, text))
        while True:
            if supervisor.check():
                self.write_state(state)
            time.sleep(poll_seconds)

    def stop(self) -> None:
        for child in reversed(self.children):  # gateway first, then the services
            child.stop()
        self.children.clear()
        self.infra.stop()


def load_demo(
    settings: Settings, data_dir: Path, credentials: LocalCredentials, customers: int, seed: int
) -> str | None:
    """Send the demo data set once per data directory; returns a demo customer's email."""
    from threadline.simulate import send
    from threadline.simulation import generate
    from threadline.simulation.personas import draw_persona

    marker = data_dir / DEMO_MARKER
    if customers <= 0:
        return None
    import asyncio
    import random

    first = draw_persona(random.Random(f"threadline-simulation:{seed}:0"), 0)
    email = first.email.strip().lower()
    if marker.exists():
        return str(orjson.loads(marker.read_bytes()).get("example_email") or email)
    # Recent activity, so the demo's journeys and scores look current.
    base_time = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    payloads = generate(customers, seed, base_time)
    report = asyncio.run(
        send(
            payloads,
            url=f"http://127.0.0.1:{settings.profile_port}",
            write_key=credentials.write_key,
            concurrency=4,
        )
    )
    marker.write_bytes(
        orjson.dumps(
            {
                "customers": customers,
                "seed": seed,
                "events": report.events,
                "rejected": report.rejected,
                "base_time": base_time.isoformat(),
                "example_email": email,
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    return email


def token_command(data_dir: Path) -> str:
    """``threadline token`` as it can be typed from here, finding this run's secret."""
    executable = Path(sys.executable).parent / "threadline"
    try:
        command = f"./{executable.relative_to(Path.cwd())}"
    except ValueError:
        command = str(executable)
    if data_dir != (Path.cwd() / ".threadline").resolve():
        command = f"THREADLINE_DATA_DIR={data_dir} {command}"
    return f"{command} token"


def banner(
    settings: Settings, data_dir: Path, credentials: LocalCredentials, email: str | None
) -> str:
    gateway = f"http://localhost:{settings.gateway_port}/graphql"
    lookup = (
        f'customerByIdentity(type: \\"email\\", value: \\"{email}\\")'
        if email
        else 'customer(id: \\"<id>\\")'
    )
    query = f'{{"query": "{{ {lookup} {{ id traits channels }} }}"}}'
    return "\n".join(
        [
            "",
            "Threadline is up.",
            f"  GraphQL (gateway):   {gateway}",
            f"  Collection API:      http://localhost:{settings.profile_port}/v1",
            f"  Write key:           {credentials.write_key}",
            "  Subgraphs:           "
            + ", ".join(
                f"{name} http://localhost:{service_port(settings, name)}/graphql"
                for name in SERVICES
            ),
            f"  Data and logs:       {data_dir} (logs in {data_dir / 'logs'})",
            "",
            "  A token for the graph:",
            f'    TOKEN=$({token_command(data_dir)} --scope "customers:read pii:read")',
            "  A query:",
            f'    curl -s {gateway} -H "authorization: Bearer $TOKEN" \\',
            f"      -H 'content-type: application/json' -d '{query}'",
            "  Send an event:",
            f"    curl -s -u {credentials.write_key}: \\",
            f"      http://localhost:{settings.profile_port}/v1/track \\",
            "      -H 'content-type: application/json' \\",
            "      -d '" + SAMPLE_EVENT + "'",
            "",
            READY_LINE,
        ]
    )  # fmt: skip


def run_up(options: UpOptions, out: TextIO = sys.stdout) -> int:
    settings = Settings()
    data_dir = (options.data_dir or settings.data_dir).resolve()
    settings = settings.model_copy(update={"data_dir": data_dir})
    infra = LocalInfra(
        data_dir,
        amqp_port=options.amqp_port,
        mongodb_port=options.mongodb_port,
        environ=dict(os.environ),
    )
    suite = LocalSuite(settings, data_dir, infra)
    state = data_dir / STATE_FILE
    code = 0
    with _private_files(), _exclusive(data_dir), _stop_on_signals():
        try:
            credentials = ensure_credentials(settings, data_dir)
            _say(out, f"Starting Threadline (data in {data_dir})")
            infra.start()
            _say(
                out,
                f"  RabbitMQ at {_safe(infra.amqp_url)}; database at {_safe(infra.mongodb_url)}",
            )
            suite.start_all(credentials, out)
            suite.write_state(state)
            if options.demo_customers > 0 and not (data_dir / DEMO_MARKER).exists():
                _say(out, f"  loading the demo data set ({options.demo_customers} customers)…")
            email = load_demo(settings, data_dir, credentials, options.demo_customers, options.seed)
            _say(out, banner(settings, data_dir, credentials, email))
            suite.supervise(state, out)
        except CrashLoopError as exc:
            _say(out, str(exc))
            code = 1
        except Stop:
            pass
        finally:
            _ignore_signals()
            _say(out, "Stopping Threadline…")
            suite.stop()
            state.unlink(missing_ok=True)
            _say(out, "Stopped.")
    return code


def run_infra(options: UpOptions, out: TextIO = sys.stdout) -> int:
    """Only RabbitMQ and the database, for running services from an editor or tests."""
    data_dir = (options.data_dir or Settings().data_dir).resolve()
    infra = LocalInfra(
        data_dir,
        amqp_port=options.amqp_port,
        mongodb_port=options.mongodb_port,
        environ=dict(os.environ),
    )
    code = 0
    with _private_files(), _exclusive(data_dir), _stop_on_signals():
        try:
            infra.start()
            _say(out, f"export THREADLINE_AMQP_URL='{infra.amqp_url}'")
            _say(out, f"export THREADLINE_MONGODB_URL='{infra.mongodb_url}'")
            _say(out, READY_LINE)
            supervisor = Supervisor(infra.started(), lambda text: _say(out, text))
            while True:
                supervisor.check()
                time.sleep(0.5)
        except CrashLoopError as exc:
            _say(out, str(exc))
            code = 1
        except Stop:
            pass
        finally:
            _ignore_signals()
            infra.stop()
    return code


def _safe(url: str) -> str:
    """A URL without its password, for printing."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}"
