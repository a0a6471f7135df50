"""The command line accepts every documented command and refuses malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.cli import build_parser
from threadline.suite import SERVICES


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up"], {"command": "up", "amqp_port": 5682, "mongodb_port": 27027}),
        (
            ["up", "--data-dir", "/tmp/tl", "--amqp-port", "6000", "--demo-customers", "5"],
            {"data_dir": Path("/tmp/tl"), "amqp_port": 6000, "demo_customers": 5},
        ),
        (
            ["serve", "profile", "--port", "4101", "--with-worker"],
            {"service": "profile", "port": 4101, "with_worker": True, "host": "127.0.0.1"},
        ),
        (["serve", "journey", "--host", "0.0.0.0"], {"port": None, "with_worker": False}),
        (["worker", "scoring"], {"command": "worker", "service": "scoring", "host": None}),
        (["worker", "journey", "--host", "0.0.0.0"], {"service": "journey", "host": "0.0.0.0"}),
        (
            ["gateway", "--supergraph", "super.graphql", "--port", "4000"],
            {"supergraph": Path("super.graphql"), "port": 4000, "subgraph": []},
        ),
        (
            ["gateway", "--subgraph", "profile=http://p:4001/graphql"],
            {"supergraph": None, "subgraph": ["profile=http://p:4001/graphql"]},
        ),
        (
            [
                "simulate",
                "--customers",
                "5",
                "--seed",
                "3",
                "--url",
                "http://x:1",
                "--write-key",
                "k",
                "--concurrency",
                "2",
            ],
            {"customers": 5, "seed": 3, "url": "http://x:1", "write_key": "k", "concurrency": 2},
        ),
        (
            ["token", "--scope", "customers:read pii:read", "--subject", "ana", "--ttl", "60"],
            {"scope": "customers:read pii:read", "subject": "ana", "ttl": 60},
        ),
        (["infra"], {"command": "infra"}),
    ],
)
def test_parser_accepts_documented_commands(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {key: args[key] for key in expected} == expected


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_can_be_served_and_worked(service: str) -> None:
    assert build_parser().parse_args(["serve", service]).service == service
    assert build_parser().parse_args(["worker", service]).service == service


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve", "billing"],
        ["worker"],
        ["serve", "profile", "--port", "70000"],
        ["simulate"],
        ["simulate", "--customers", "0"],
        ["token", "--ttl", "-5"],
        ["launch"],
    ],
)
def test_parser_refuses_malformed_commands(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: threadline" in capsys.readouterr().err
