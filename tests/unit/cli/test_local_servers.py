"""How our own RabbitMQ node is configured: ports that exist, crash dumps kept with the node,
Erlang distribution on loopback, private files. (Booting it is the integration tier's job.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.devinfra import InfraError, RabbitNode


@pytest.mark.parametrize("amqp_port", [5682, 45536, 51559, 65535])
def test_the_distribution_port_is_a_real_port_whatever_the_amqp_port(
    tmp_path: Path, amqp_port: int
) -> None:
    # AMQP port + 20000 was 71559 for 51559: the node died with invalid_dist_port_range.
    node = RabbitNode(tmp_path / "rabbitmq", port=amqp_port)
    dist_port = int(node.environment()["RABBITMQ_DIST_PORT"])
    assert 0 < dist_port < 65536
    assert dist_port != amqp_port


def test_a_given_distribution_port_is_kept(tmp_path: Path) -> None:
    node = RabbitNode(tmp_path / "rabbitmq", port=5682, dist_port=25682)
    assert node.environment()["RABBITMQ_DIST_PORT"] == "25682"


def test_an_impossible_distribution_port_is_refused_with_the_range(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match=r"dist_port 71559 is not a TCP port: pass 1-65535"):
        RabbitNode(tmp_path / "rabbitmq", port=51559, dist_port=71559)


def test_a_crash_dump_is_written_into_the_nodes_own_directory(tmp_path: Path) -> None:
    node = RabbitNode(tmp_path / "rabbitmq", port=5682)
    dump = Path(node.environment()["ERL_CRASH_DUMP"])
    assert dump.parent == tmp_path / "rabbitmq"


def test_every_erlang_listener_is_asked_to_bind_loopback(tmp_path: Path) -> None:
    env = RabbitNode(tmp_path / "rabbitmq", port=5682).environment()
    assert env["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1"
    assert env["ERL_EPMD_ADDRESS"] == "127.0.0.1"
    for args in ("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "RABBITMQ_CTL_ERL_ARGS"):
        assert "-kernel inet_dist_use_interface {127,0,0,1}" in env[args]
