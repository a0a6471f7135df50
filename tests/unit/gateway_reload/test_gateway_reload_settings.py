"""``THREADLINE_GATEWAY_SUPERGRAPH_POLL_SECONDS``: off by default, refused when not seconds."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from threadline.gatewayrun import poll_seconds

VARIABLE = "THREADLINE_GATEWAY_SUPERGRAPH_POLL_SECONDS"


def test_polling_is_off_when_unset_empty_or_zero() -> None:
    assert poll_seconds({}) == 0
    assert poll_seconds({VARIABLE: ""}) == 0
    assert poll_seconds({VARIABLE: "0"}) == 0


def test_polling_interval_is_read_in_seconds() -> None:
    assert poll_seconds({VARIABLE: "2.5"}) == 2.5


@pytest.mark.parametrize("raw", ["-1", "soon", "nan"])
def test_polling_interval_that_is_not_seconds_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=VARIABLE):
        poll_seconds({VARIABLE: raw})
