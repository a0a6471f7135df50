"""Which resolver errors callers see as raised, and which they see as what failed only."""

from __future__ import annotations

from graphql import GraphQLError

from shared.errors import BusError, StorageError, ValidationError
from shared.graphql_errors import public_error
from shared.subgraph import forbidden


def raised(exc: Exception) -> GraphQLError:
    return GraphQLError(str(exc), path=["customer"], original_error=exc)


def test_outages_say_what_failed_with_a_code_and_nothing_of_where() -> None:
    storage = public_error(raised(StorageError("loading failed: db.internal:27017 Topology …")))
    bus = public_error(raised(BusError("RabbitMQ at amqp://guest:***@mq.internal:5672/ …")))

    assert storage.formatted == {
        "message": "the database is unavailable; retry later",
        "path": ["customer"],
        "extensions": {"code": "STORAGE_UNAVAILABLE"},
    }
    assert bus.message == "the event bus is unavailable; retry later"
    assert bus.extensions == {"code": "EVENT_BUS_UNAVAILABLE"}


def test_unexpected_exceptions_become_internal_errors() -> None:
    error = public_error(raised(KeyError("mongodb://admin:pw@db.internal")))

    assert error.message == "an internal error occurred; the server log has the details"
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR"}


def test_errors_raised_on_purpose_reach_the_caller_unchanged() -> None:
    refused = forbidden("this field needs the scope 'pii:read'")
    invalid = raised(ValidationError({"from": "must be before `to`"}))

    assert public_error(refused) is refused
    assert public_error(invalid) is invalid
