"""Our federation gateway against Apollo Gateway and Hive Gateway, side by side in one run.

All three serve the same supergraph file (composed by Apollo's composition) over the same
five subgraph processes, and get the same wrk load for the same two operations (each
sent with rotating variable values). Every gateway is pinned to core 0; subgraphs and wrk
share core 1. Before any load, each gateway's answer to every variant of each operation
must equal the reference (Apollo Gateway's) after JSON parsing, key order included;
otherwise the run fails. Method and results: bench/GATEWAYS.md.

usage: python -m bench.gateway_compare [--seconds 10] [--warmup 3] [--rounds 3]
       [--connections 32[,1…]] [--variants 64] [--gateways threadline,apollo,hive] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.gateways.contenders import CONTENDERS, HERE, REPO, Contender, versions
from bench.gateways.loadgen import Load, LoadResult, run_wrk
from bench.gateways.operations import OPERATIONS
from bench.gateways.processes import (
    BenchmarkError,
    Pinned,
    core_busy_seconds,
    free_port,
    wait_until_answers,
)
from bench.gateways.subgraph import NAMES

GATEWAY_CORE = 0
SHARED_CORE = 1
_JSON = {"content-type": "application/json", "accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Options:
    seconds: int = 10
    warmup_seconds: int = 3
    rounds: int = 3
    connections: tuple[int, ...] = (32,)
    """One measurement series per entry; 32 is the headline figure."""
    variants: int = 64
    """Distinct variable values each operation rotates through (1: one identical request)."""
    gateways: tuple[str, ...] = ("threadline", "apollo", "hive")


@dataclass(slots=True)
class Sample:
    """One measured wrk run of one gateway on one operation."""

    load: LoadResult
    gateway_cpu_seconds: float
    core0_busy_seconds: float
    core1_busy_seconds: float
    subgraph_requests: int
    """Requests the subgraphs received during the measured window."""
    subgraph_executed: int
    """Of those, how many missed the subgraphs' memo (should be ~0: the subgraphs stay cheap)."""


@dataclass(slots=True)
class Running:
    contender: Contender
    process: Pinned
    url: str
    fetches: dict[str, int] = field(default_factory=dict)
    samples: dict[tuple[int, str], list[Sample]] = field(default_factory=dict)
    """Keyed by (connections, operation name)."""


def run(options: Options | None = None) -> list[dict[str, Any]]:
    """Measure every available gateway; one row per (connections, gateway, operation)."""
    options = options or Options()
    _prepare()
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        work = Path(tmp)
        children: list[Pinned] = []
        try:
            urls = _start_subgraphs(work, children)
            supergraph = _compose(work, urls)
            running = _start_gateways(options.gateways, supergraph, work, children, skipped)
            if not running:
                raise BenchmarkError(f"no gateway could start: {skipped}")
            _verify(running, urls, options.variants)
            bodies = {
                op.name: _write(work / f"{op.name}.jsonl", b"\n".join(op.bodies(options.variants)))
                for op in OPERATIONS
            }
            for round_index in range(options.rounds):
                order = (
                    running[round_index % len(running) :] + running[: round_index % len(running)]
                )
                for connections in options.connections:
                    load = Load(
                        connections, 1, options.seconds, options.warmup_seconds, SHARED_CORE
                    )
                    for operation in OPERATIONS:
                        for gateway in order:
                            sample = _measure(gateway, bodies[operation.name], load, urls)
                            key = (connections, operation.name)
                            gateway.samples.setdefault(key, []).append(sample)
        finally:
            for child in reversed(children):
                child.stop()
    return _rows(running, skipped, options)


def _prepare() -> None:
    install = HERE / "install.sh"
    done = subprocess.run(["bash", str(install)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"{install} failed:\n{done.stdout}{done.stderr}")


def _start_subgraphs(work: Path, children: list[Pinned]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for name in NAMES:
        port = free_port()
        child = Pinned(
            f"subgraph {name}",
            [sys.executable, "-m", "bench.gateways.server", name, str(port)],
            SHARED_CORE,
            work / f"subgraph-{name}.log",
            cwd=REPO,
        )
        child.start()
        children.append(child)
        urls[name] = f"http://127.0.0.1:{port}/graphql"
    probe = b'{"query":"{ _service { sdl } }"}'
    for child, url in zip(children, urls.values(), strict=True):
        wait_until_answers(child, url, probe)
    return urls


def _compose(work: Path, urls: dict[str, str]) -> Path:
    out = work / "supergraph.graphql"
    pairs = [f"{name}={url}" for name, url in urls.items()]
    done = subprocess.run(
        ["taskset", "-c", str(SHARED_CORE), "node", str(HERE / "compose.mjs"), str(out), *pairs],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"composition failed:\n{done.stderr}")
    return out


def _start_gateways(
    names: Sequence[str],
    supergraph: Path,
    work: Path,
    children: list[Pinned],
    skipped: dict[str, str],
) -> list[Running]:
    running: list[Running] = []
    for name in names:
        contender = CONTENDERS[name]
        reason = contender.missing()
        if reason is not None:
            skipped[name] = reason
            continue
        port = free_port()
        child = Pinned(
            contender.label,
            contender.command(supergraph, port),
            GATEWAY_CORE,
            work / f"gateway-{name}.log",
            cwd=contender.cwd,
            env=contender.env,
        )
        child.start()
        children.append(child)
        url = f"http://127.0.0.1:{port}/graphql"
        try:
            wait_until_answers(child, url, OPERATIONS[0].body())
        except BenchmarkError as exc:
            skipped[name] = f"did not start: {exc}".replace("\n", " ")[:400]
            child.stop()
            continue
        running.append(Running(contender, child, url))
    return running


def _verify(running: list[Running], subgraphs: dict[str, str], variants: int) -> None:
    """Every gateway must answer every variant of every operation like the reference gateway.

    The first variant also counts the subgraph requests one operation causes.
    """
    reference = next((g for g in running if g.contender.name == "apollo"), running[0])
    with httpx.Client(timeout=30.0) as client:
        for operation in OPERATIONS:
            for variant, body in enumerate(operation.bodies(variants)):
                what = f"{operation.name} (variant {variant})"
                answers: dict[str, Any] = {}
                for gateway in running:
                    if variant == 0:
                        _subgraph_requests(client, subgraphs, reset=True)
                    response = client.post(gateway.url, content=body, headers=_JSON)
                    if variant == 0:
                        gateway.fetches[operation.name] = _subgraph_requests(client, subgraphs)
                    if response.status_code != 200:
                        raise BenchmarkError(
                            f"{gateway.contender.label} answered {what} with HTTP "
                            f"{response.status_code}: {response.text[:500]}"
                        )
                    answers[gateway.contender.name] = json.loads(
                        response.content, object_pairs_hook=list
                    )
                expected = answers[reference.contender.name]
                if not isinstance(expected, list) or [k for k, _ in expected] != ["data"]:
                    raise BenchmarkError(
                        f"{reference.contender.label} did not answer {what} with data "
                        f"only: {json.dumps(expected)[:500]}"
                    )
                for name, answer in answers.items():
                    if answer != expected:
                        raise BenchmarkError(
                            f"{CONTENDERS[name].label} answers {what} differently from "
                            f"{reference.contender.label}: {_first_difference(answer, expected)}"
                        )


def _subgraph_requests(client: httpx.Client, urls: dict[str, str], reset: bool = False) -> int:
    return _subgraph_stats(client, urls, reset)[0]


def _subgraph_stats(
    client: httpx.Client, urls: dict[str, str], reset: bool = False
) -> tuple[int, int]:
    """(requests received, requests executed rather than memoised), summed over subgraphs."""
    requests = executed = 0
    for url in urls.values():
        stats = url.removesuffix("/graphql") + "/stats"
        answer = (client.post(stats) if reset else client.get(stats)).json()
        requests += int(answer["requests"])
        executed += int(answer["executed"])
    return requests, executed


def _first_difference(got: Any, want: Any, path: str = "$") -> str:
    if isinstance(got, list) and isinstance(want, list):
        for index, (a, b) in enumerate(zip(got, want, strict=False)):
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
        return f"{path}: {len(got)} items instead of {len(want)}"
    return f"{path}: got {json.dumps(got)[:200]}, expected {json.dumps(want)[:200]}"


def _measure(gateway: Running, body: Path, load: Load, subgraphs: dict[str, str]) -> Sample:
    if load.warmup_seconds > 0:
        run_wrk(gateway.url, body, load, load.warmup_seconds)
    with httpx.Client(timeout=10.0) as client:
        _subgraph_requests(client, subgraphs, reset=True)
        cpu0, cpu1 = core_busy_seconds(GATEWAY_CORE), core_busy_seconds(SHARED_CORE)
        cpu = gateway.process.cpu_seconds()
        result = run_wrk(gateway.url, body, load, load.seconds)
        gateway_cpu = gateway.process.cpu_seconds() - cpu
        core0 = core_busy_seconds(GATEWAY_CORE) - cpu0
        core1 = core_busy_seconds(SHARED_CORE) - cpu1
        subgraph_requests, executed = _subgraph_stats(client, subgraphs)
    return Sample(result, gateway_cpu, core0, core1, subgraph_requests, executed)


def _rows(
    running: list[Running], skipped: dict[str, str], options: Options
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    measured = {g.contender.name: g for g in running}
    for connections in options.connections:
        for operation in OPERATIONS:
            for name in options.gateways:
                row: dict[str, Any] = {
                    "benchmark": "gateway",
                    "gateway": name,
                    "label": CONTENDERS[name].label,
                    "operation": operation.name,
                    "connections": connections,
                }
                gateway = measured.get(name)
                key = (connections, operation.name)
                samples = gateway.samples.get(key, []) if gateway else []
                if gateway is None or not samples:
                    row["status"] = f"not measured: {skipped.get(name, 'no samples')}"
                    rows.append(row)
                    continue
                row.update(_summary(samples, options))
                row["subgraph_fetches"] = gateway.fetches[operation.name]
                rows.append(row)
    return rows


def _summary(samples: list[Sample], options: Options) -> dict[str, Any]:
    rps = [s.load.throughput for s in samples]
    answered = [s.load for s in samples if s.load.requests]  # wrk reports 0 ms when none finished
    requests = sum(s.load.requests for s in samples)
    seconds = sum(s.load.seconds for s in samples)
    gateway_cpu = sum(s.gateway_cpu_seconds for s in samples)
    other_core0 = sum(max(0.0, s.core0_busy_seconds - s.gateway_cpu_seconds) for s in samples)
    return {
        "status": "measured",
        "throughput_rps": round(statistics.median(rps), 1),
        "throughput_min_rps": round(min(rps), 1),
        "throughput_max_rps": round(max(rps), 1),
        "p50_ms": _median_or_none([r.p50_ms for r in answered]),
        "p99_ms": _median_or_none([r.p99_ms for r in answered]),
        "max_ms": round(max(r.max_ms for r in answered), 2) if answered else None,
        "requests": requests,
        "errors": sum(s.load.errors for s in samples),
        # Below the single-request fetch count when a gateway shares identical in-flight
        # subgraph requests between concurrent operations (ours does; see the method).
        "subgraph_requests_per_op_under_load": (
            round(sum(s.subgraph_requests for s in samples) / requests, 2) if requests else None
        ),
        "subgraph_executions": sum(s.subgraph_executed for s in samples),
        "gateway_cpu_ms_per_request": round(1000 * gateway_cpu / requests, 3) if requests else None,
        "gateway_core_share_pct": round(100 * gateway_cpu / seconds, 1),
        "other_load_on_gateway_core_pct": round(100 * other_core0 / seconds, 1),
        "shared_core_busy_pct": round(
            100 * sum(s.core1_busy_seconds for s in samples) / seconds, 1
        ),
        "rounds": len(samples),
        "seconds_per_round": options.seconds,
        "variants": options.variants,
    }


def _median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (the one pasted into bench/GATEWAYS.md)."""
    columns = (
        ("operation", "operation", "{}"),
        ("gateway", "label", "{}"),
        ("req/s median", "throughput_rps", "{:.0f}"),
        ("req/s min–max", "throughput_min_rps", "{:.0f}"),
        ("p50 ms", "p50_ms", "{:.1f}"),
        ("p99 ms", "p99_ms", "{:.1f}"),
        ("gateway CPU ms/req", "gateway_cpu_ms_per_request", "{:.2f}"),
        ("subgraph fetches/op", "subgraph_fetches", "{}"),
        ("subgraph requests/op under load", "subgraph_requests_per_op_under_load", "{:.2f}"),
        ("errors", "errors", "{}"),
        ("subgraph memo misses", "subgraph_executions", "{}"),
        ("gateway core share %", "gateway_core_share_pct", "{:.0f}"),
        ("other load on core 0 %", "other_load_on_gateway_core_pct", "{:.0f}"),
        ("core 1 busy %", "shared_core_busy_pct", "{:.0f}"),
    )
    lines: list[str] = []
    previous = None
    for row in rows:
        if row["connections"] != previous:
            previous = row["connections"]
            lines += [
                *([""] if lines else []),
                f"**{previous} connection{'s' if previous != 1 else ''}**",
                "",
                "| " + " | ".join(title for title, _, _ in columns) + " |",
                "|" + "---|" * len(columns),
            ]
        cells = []
        for _, key, fmt in columns:
            value = row.get(key)
            if key == "throughput_min_rps" and value is not None:
                value = f"{value:.0f}–{row['throughput_max_rps']:.0f}"
                fmt = "{}"
            if key == "throughput_rps" and row["status"] != "measured":
                value, fmt = row["status"], "{}"
            cells.append("—" if value is None else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds before each")
    parser.add_argument("--rounds", type=int, default=3, help="runs per gateway and operation")
    parser.add_argument(
        "--connections", default="32", help="comma-separated: one series per value, e.g. 32,1"
    )
    parser.add_argument("--gateways", default="threadline,apollo,hive")
    parser.add_argument(
        "--variants",
        type=int,
        default=64,
        help="distinct variable values per operation, sent in rotation (1: identical requests)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    names = tuple(n.strip() for n in args.gateways.split(",") if n.strip())
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        parser.error(f"unknown gateway(s) {unknown}: pick from {', '.join(CONTENDERS)}")
    try:
        connections = tuple(int(c) for c in args.connections.split(","))
    except ValueError:
        parser.error(f"--connections {args.connections!r} is not a comma-separated list of ints")
    if not 1 <= args.variants <= 150:
        parser.error("--variants must be between 1 and 150 (the catalogue has 1,000 products)")
    return Options(args.seconds, args.warmup, args.rounds, connections, args.variants, names)


def main(argv: Sequence[str]) -> int:
    options = _options(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = run(options)
    levels = ", ".join(str(c) for c in options.connections)
    print(f"gateway benchmark, {started}: {levels} connections, "
          f"{options.variants} request variants per operation, "
          f"{options.rounds} × {options.seconds}s per gateway and operation "
          f"(+{options.warmup_seconds}s warm-up each), gateway on core {GATEWAY_CORE}, "
          f"subgraphs + wrk on core {SHARED_CORE}")  # fmt: skip
    print(", ".join(f"{k} {v}" for k, v in versions().items()))
    print(table(rows))
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
