"""Drives ``wrk`` (fixed connections and duration) and reads the summary ``post.lua`` prints."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.gateways.processes import BenchmarkError, pinned_argv, raise_priority

SCRIPT = Path(__file__).parent / "post.lua"


@dataclass(frozen=True, slots=True)
class Load:
    """The load every gateway gets: connections, wrk threads, seconds, and the core wrk runs on."""

    connections: int = 32
    threads: int = 1
    seconds: int = 10
    warmup_seconds: int = 3
    core: int = 1


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Socket errors, timeouts and non-2xx answers together."""

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(url: str, body_file: Path, load: Load, seconds: int) -> LoadResult:
    """One wrk run of ``seconds`` (whole seconds: wrk takes no fractions)."""
    if seconds < 1:
        raise BenchmarkError(f"wrk runs last at least 1 s, not {seconds}")
    argv = pinned_argv(load.core, [
        "wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds}s",
        "--timeout", "10s", "-s", str(SCRIPT), url, "--", str(body_file),
    ])  # fmt: skip
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        start_new_session=True,
        preexec_fn=raise_priority,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchmarkError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    raw = orjson.loads(line.removeprefix("BENCH_RESULT "))
    errors = (
        sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors"))
        + raw["timeouts"]
    )
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=errors,
    )
