"""The GraphQL-over-HTTP request parameters, from a JSON body or a URL query string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.http.errors import HttpError


@dataclass(frozen=True, slots=True)
class Params:
    """``query`` may be None only when ``extensions`` carry a persisted-query hash."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def from_body(body: bytes) -> Params:
    if not body:
        raise HttpError(400, "the request body is empty: POST a JSON object with a 'query'")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"the request body is not valid JSON: {exc}") from exc
    if isinstance(payload, list):
        raise HttpError(400, "batched requests (a JSON array) are not supported: send one object")
    if not isinstance(payload, dict):
        raise HttpError(400, "the request body must be a JSON object with a 'query'")
    return from_mapping(payload)


def from_query_string(query_params: Mapping[str, str]) -> Params:
    raw: dict[str, Any] = {
        "query": query_params.get("query"),
        "operationName": query_params.get("operationName"),
    }
    for name in ("variables", "extensions"):
        text = query_params.get(name)
        if text:
            try:
                raw[name] = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise HttpError(
                    400, f"the '{name}' URL parameter must be URL-encoded JSON: {exc}"
                ) from exc
    return from_mapping(raw)


def from_mapping(payload: Mapping[str, Any]) -> Params:
    """Parameters from a decoded request (a JSON body or a WebSocket subscribe payload)."""
    query = payload.get("query")
    if query is not None and not isinstance(query, str):
        raise HttpError(400, "'query' must be a string holding a GraphQL document")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise HttpError(400, "'variables' must be a JSON object (a map of name to value)")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise HttpError(400, "'operationName' must be a string naming an operation")
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise HttpError(400, "'extensions' must be a JSON object")
    if query is None and not (extensions and "persistedQuery" in extensions):
        raise HttpError(400, "the request has no 'query': send the GraphQL document as 'query'")
    return Params(query, variables, operation_name or None, extensions)
