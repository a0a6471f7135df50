"""What a subgraph tells its callers when something behind it fails: what, never where.

A resolver that hits a database or broker outage raises ``StorageError`` or
``BusError``, whose messages carry the driver's detail (addresses, topology
descriptions) for the operator. Callers get a fixed message and a code they
can act on instead; the detail stays in the server log, where strawberry logs
every resolver error with its traceback. Errors raised on purpose (GraphQL
errors such as ``FORBIDDEN``, and our own errors that say how to fix the
request) pass through; anything unexpected becomes ``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

from graphql import GraphQLError

from shared.errors import BusError, StorageError, ThreadlineError

__all__ = ["EVENT_BUS_UNAVAILABLE", "INTERNAL_SERVER_ERROR", "STORAGE_UNAVAILABLE", "public_error"]

STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
EVENT_BUS_UNAVAILABLE = "EVENT_BUS_UNAVAILABLE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


def public_error(error: GraphQLError) -> GraphQLError:
    """``error`` as callers may see it."""
    original = error.original_error
    if isinstance(original, StorageError):
        return _replaced(error, "the database is unavailable; retry later", STORAGE_UNAVAILABLE)
    if isinstance(original, BusError):
        return _replaced(error, "the event bus is unavailable; retry later", EVENT_BUS_UNAVAILABLE)
    if original is None or isinstance(original, GraphQLError | ThreadlineError):
        return error
    return _replaced(
        error, "an internal error occurred; the server log has the details", INTERNAL_SERVER_ERROR
    )


def _replaced(error: GraphQLError, message: str, code: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": code},
    )
