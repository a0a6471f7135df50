"""Credentials out of an ``Authorization`` header: bearer tokens and Segment's Basic write key."""

from __future__ import annotations

import base64

from shared.auth.errors import TokenError


def bearer_token(authorization: str | None) -> str | None:
    """The token of a ``Bearer`` header; None for no header or another scheme."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require_bearer(authorization: str | None) -> str:
    """The token of a ``Bearer`` header, or a :class:`TokenError` saying what to send."""
    if not authorization:
        raise TokenError(
            "a bearer token is required: send 'Authorization: Bearer <JWT>' "
            "(locally: `threadline token --scope customers:read`)",
            error="invalid_request",
        )
    token = bearer_token(authorization)
    if token is None:
        raise TokenError("the Authorization header must be 'Bearer <JWT>'", error="invalid_request")
    return token


def basic_user(authorization: str | None) -> str | None:
    """The user part of an HTTP Basic header, which is where Segment SDKs put the write key."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]
