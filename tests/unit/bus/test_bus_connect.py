"""The Bus fails fast, with a BusError that says what to check, when no broker answers."""

from __future__ import annotations

import pytest

from shared.bus.rabbitmq import Bus
from shared.errors import BusError
from shared.settings import Settings
from threadline.devinfra import free_port


async def test_connecting_to_a_port_without_a_broker_raises_bus_error() -> None:
    settings = Settings(amqp_url=f"amqp://guest:secret@127.0.0.1:{free_port()}/")
    with pytest.raises(BusError, match="THREADLINE_AMQP_URL") as caught:
        await Bus.connect(settings, "threadline/test", broker_timeout=2)
    assert "secret" not in str(caught.value)
