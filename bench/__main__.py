"""``python -m bench`` (what ``make bench`` runs): every registered benchmark in one run.

Each figure is printed beside the ceiling measured in the same run on the same
machine. Name benchmarks to run only those: ``python -m bench collection``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Callable

from bench.harness import BenchmarkError, Figure, environment_summary, print_figures, stack


def bus() -> list[Figure]:
    from bench.bus_ceiling import compare

    with stack() as current:
        ceiling, ours = asyncio.run(compare(current.amqp_url, 20000))
    return [Figure("Bus.publish (500/batch)", ours, "events/s", "RabbitMQ confirmed publish",
                   ceiling)]  # fmt: skip


def collection() -> list[Figure]:
    from bench import collection as module

    return module.run()


def end_to_end() -> list[Figure]:
    from bench import end_to_end as module

    return module.run()


def journey_analytics() -> list[Figure]:
    from bench import journey_analytics as module

    return module.run()


def journey() -> list[Figure]:
    from bench import journey as module

    return module.run()


def identity() -> list[Figure]:
    from bench import identity as module

    return module.run()


def gateway() -> list[Figure]:
    """Our gateway against the faster of Apollo Gateway and Hive Gateway, per operation."""
    from bench import gateway_compare

    rows = gateway_compare.run()
    print(gateway_compare.table(rows))
    measured = [row for row in rows if row.get("status") == "measured"]
    figures = []
    for operation in sorted({row["operation"] for row in measured}):
        ours = [r for r in measured if r["operation"] == operation and r["gateway"] == "threadline"]
        others = [
            r for r in measured if r["operation"] == operation and r["gateway"] != "threadline"
        ]
        if not ours or not others:
            raise BenchmarkError(f"the {operation} query was not measured on every gateway")
        best = max(others, key=lambda row: row["throughput_rps"])
        figures.append(
            Figure(
                f"gateway {operation} query ({ours[0]['connections']} conn)",
                ours[0]["throughput_rps"],
                "req/s",
                f"fastest Node gateway: {best['label']}",
                best["throughput_rps"],
                note=f"p99 {ours[0]['p99_ms']} ms vs {best['p99_ms']} ms",
            )
        )
    return figures


def scoring() -> list[Figure]:
    from bench import scoring as module

    return module.run()


BENCHMARKS: dict[str, Callable[[], list[Figure]]] = {
    "bus": bus,
    "collection": collection,
    "end_to_end": end_to_end,
    "gateway": gateway,
    "journey": journey,
    "journey_analytics": journey_analytics,
    "identity": identity,
    "scoring": scoring,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    summary = environment_summary()
    print(f"Threadline benchmarks on {platform.node()}: {summary['cpus']} CPUs, "
          f"Python {summary['python']}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")  # fmt: skip
    failed = []
    figures: list[Figure] = []
    for name in names:
        print(f"\n== {name}")
        started = time.monotonic()
        try:
            measured = BENCHMARKS[name]()
        except BenchmarkError as exc:
            print(f"{name} failed: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        print_figures(measured)
        print(f"({time.monotonic() - started:.0f}s)")
        figures.extend(measured)
    if figures:
        print("\n== all figures")
        print_figures(figures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
