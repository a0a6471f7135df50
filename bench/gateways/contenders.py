"""The gateways under test and how each is started on a supergraph file, single process."""

from __future__ import annotations

import importlib.util
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent.parent
NODE_MODULES = HERE / "node_modules"

NODE_PACKAGES = (
    "@apollo/gateway",
    "@apollo/server",
    "@apollo/composition",
    "@graphql-hive/gateway",
    "@graphql-hive/gateway-runtime",
    "graphql",
)


@dataclass(frozen=True, slots=True)
class Contender:
    """A gateway: how to start it on ``(supergraph_file, port)`` and with what environment."""

    name: str
    label: str
    command: Callable[[Path, int], Sequence[str]]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = REPO
    missing: Callable[[], str | None] = lambda: None
    """Why it cannot run here, or None."""


def _threadline_command(supergraph: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "threadline", "gateway", "--supergraph", str(supergraph),
            "--port", str(port)]  # fmt: skip


def _threadline_missing() -> str | None:
    for module in ("threadline.gatewayrun", "gateway.federation_engine", "gateway.http"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet"
    return None


def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_MODULES / "@apollo/gateway").is_dir():
        return "run bench/gateways/install.sh first"
    return None


THREADLINE = Contender(
    "threadline",
    "Threadline gateway (Python)",
    _threadline_command,
    env={
        # Same footing as the Node gateways' defaults: no auth, no rate limit, production
        # mode (no GraphiQL), warnings-only logs. Depth/alias/cost limits stay on (still
        # computed per request); the cost ceiling is raised because its default (10,000,
        # counting 10 per unpaged list) rejects the heavy operation, which the Node
        # gateways have no limit for.
        "THREADLINE_GATEWAY_AUTH_REQUIRED": "false",
        "THREADLINE_GATEWAY_MAX_COST": "1000000",
        "THREADLINE_GATEWAY_RATE_LIMIT_PER_SECOND": "0",
        "THREADLINE_ENVIRONMENT": "production",
        "THREADLINE_LOG_LEVEL": "WARNING",
    },
    missing=_threadline_missing,
)

APOLLO = Contender(
    "apollo",
    "Apollo Gateway (Node.js)",
    lambda supergraph, port: ["node", str(HERE / "apollo.mjs"), str(supergraph), str(port)],
    env={"NODE_ENV": "production"},
    cwd=HERE,
    missing=_node_missing,
)


def _hive_command(supergraph: Path, port: int) -> list[str]:
    bin_js = NODE_MODULES / "@graphql-hive/gateway/dist/bin.js"
    return ["node", str(bin_js), "supergraph", str(supergraph),
            "--host", "127.0.0.1", "--port", str(port), "--fork", "1"]  # fmt: skip


HIVE = Contender(
    "hive",
    "Hive Gateway (Node.js)",
    _hive_command,
    env={"NODE_ENV": "production"},
    cwd=HERE,
    missing=_node_missing,
)

CONTENDERS = {c.name: c for c in (THREADLINE, APOLLO, HIVE)}


def versions() -> dict[str, str]:
    """Versions of everything measured, for the method section."""
    found = {"python": platform.python_version()}
    for dist in ("graphql-core", "uvicorn", "httpx", "orjson"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    found["node"] = _output(["node", "--version"]).removeprefix("v")
    found["wrk"] = _output(["wrk", "-v"]).split(" ")[1] if shutil.which("wrk") else "missing"
    for package in NODE_PACKAGES:
        manifest = NODE_MODULES / package / "package.json"
        found[package] = (
            json.loads(manifest.read_text())["version"] if manifest.exists() else "missing"
        )
    return found


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "missing"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )
