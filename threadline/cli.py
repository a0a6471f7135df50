"""The ``threadline`` command line.

The parser is cheap to build and imports nothing heavy: each subcommand's module
is imported only when that subcommand runs, so ``threadline token`` does not pay
for the services and the Kubernetes manifests test can check every container
command against :func:`build_parser` without importing a service.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from threadline.suite import SERVICES


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline",
        description="Threadline: customer data platform served as one federated GraphQL graph.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up", help="run the whole suite locally (RabbitMQ, database, services, gateway, demo)"
    )
    up.add_argument("--data-dir", type=Path, help="where data persists (default ./.threadline)")
    up.add_argument("--amqp-port", type=_port, default=5682, help="local RabbitMQ port")
    up.add_argument("--mongodb-port", type=_port, default=27027, help="local SecantusDB port")
    up.add_argument(
        "--demo-customers", type=int, default=200, help="customers in the demo data (0: none)"
    )
    up.add_argument("--seed", type=int, default=7, help="seed of the demo data")

    serve = commands.add_parser("serve", help="serve one service's API (uvicorn)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--port", type=_port, help="default: THREADLINE_<SERVICE>_PORT")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a pod)")
    serve.add_argument(
        "--with-worker", action="store_true", help="also run the consumers in this process"
    )

    worker = commands.add_parser("worker", help="run one service's event consumers")
    worker.add_argument("service", choices=SERVICES)
    worker.add_argument(
        "--host",
        help="bind address of its health and metrics server (default: "
        "THREADLINE_WORKER_HEALTH_HOST, else 127.0.0.1; 0.0.0.0 in a pod)",
    )

    gateway = commands.add_parser("gateway", help="serve the federated GraphQL gateway")
    gateway.add_argument(
        "--supergraph",
        type=Path,
        help="a composed supergraph SDL file; default: compose the local subgraphs at startup",
    )
    gateway.add_argument(
        "--subgraph",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a subgraph to compose (repeatable); default: the three local services",
    )
    gateway.add_argument("--port", type=_port, help="default: THREADLINE_GATEWAY_PORT")
    gateway.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a pod)")

    simulate = commands.add_parser(
        "simulate", help="send realistic multi-channel behaviour to the collection API"
    )
    simulate.add_argument("--customers", type=_positive, required=True)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--url", help="collection API base URL (default: the local profile)")
    simulate.add_argument("--write-key", help="default: THREADLINE_WRITE_KEYS or the local key")
    simulate.add_argument("--concurrency", type=_positive, default=4)
    simulate.add_argument(
        "--dry-run", action="store_true", help="print the payloads as JSON lines instead"
    )

    token = commands.add_parser("token", help="print a signed JWT for local use")
    token.add_argument("--scope", default="customers:read", help='e.g. "customers:read pii:read"')
    token.add_argument("--subject", default="local-user")
    token.add_argument("--ttl", type=_positive, default=24 * 3600, help="lifetime in seconds")

    parked = commands.add_parser(
        "parked", help="list or replay the events a consumer group parked after its retries"
    )
    parked_actions = parked.add_subparsers(dest="action", required=True, metavar="ACTION")
    parked_list = parked_actions.add_parser(
        "list", help="print a group's parked events as JSON lines (they stay parked)"
    )
    parked_list.add_argument("consumer", help="consumer group, e.g. profile.ingest")
    parked_list.add_argument("--limit", type=_positive, default=100)
    parked_replay = parked_actions.add_parser(
        "replay", help="send parked events back through the group once the cause is fixed"
    )
    parked_replay.add_argument("consumer", help="consumer group, e.g. profile.ingest")
    chosen = parked_replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", dest="ids", action="append", metavar="EVENT_ID", help="repeatable")
    chosen.add_argument("--all", action="store_true", help="replay every parked event")

    infra = commands.add_parser("infra", help="start only RabbitMQ and the database (development)")
    infra.add_argument("--data-dir", type=Path, help="where data persists (default ./.threadline)")
    infra.add_argument("--amqp-port", type=_port, default=5682, help="local RabbitMQ port")
    infra.add_argument("--mongodb-port", type=_port, default=27027, help="local SecantusDB port")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from shared.errors import ThreadlineError
    from threadline.devinfra import InfraError

    try:
        return _run(args)
    except (ThreadlineError, InfraError) as exc:
        print(f"threadline {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        from threadline.runner import serve

        return serve(args.service, port=args.port, host=args.host, with_worker=args.with_worker)
    if command == "worker":
        from threadline.runner import worker

        return worker(args.service, host=args.host)
    if command == "gateway":
        from threadline.gatewayrun import run_gateway

        return run_gateway(
            supergraph=args.supergraph, subgraphs=args.subgraph, port=args.port, host=args.host
        )
    if command == "token":
        from shared.auth import SCOPES
        from threadline.localstate import print_token

        unknown = sorted(set(args.scope.replace(",", " ").split()) - set(SCOPES))
        if unknown:
            # A typo would only show up later as FORBIDDEN; the token is still printed.
            print(
                f"threadline token: warning: no Threadline operation checks "
                f"{', '.join(unknown)}; the scopes are {' '.join(SCOPES)}",
                file=sys.stderr,
            )
        return print_token(args.scope, subject=args.subject, ttl=args.ttl)
    if command == "parked":
        from threadline.parked import list_parked, replay_parked

        if args.action == "list":
            return list_parked(args.consumer, args.limit)
        return replay_parked(args.consumer, None if args.all else args.ids)
    if command == "simulate":
        from threadline.simulate import run_simulate

        return run_simulate(
            customers=args.customers,
            seed=args.seed,
            url=args.url,
            write_key=args.write_key,
            concurrency=args.concurrency,
            dry_run=args.dry_run,
        )
    from threadline.up import UpOptions, run_infra, run_up

    if command == "infra":
        return run_infra(
            UpOptions(
                data_dir=args.data_dir, amqp_port=args.amqp_port, mongodb_port=args.mongodb_port
            )
        )
    return run_up(
        UpOptions(
            data_dir=args.data_dir,
            amqp_port=args.amqp_port,
            mongodb_port=args.mongodb_port,
            demo_customers=args.demo_customers,
            seed=args.seed,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
