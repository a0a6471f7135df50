"""Refused credentials: each error carries its HTTP status and says how to fix the problem."""

from __future__ import annotations

from shared.errors import AuthError


class TokenError(AuthError):
    """No usable bearer token: missing, malformed, badly signed, expired or for someone else.

    ``error`` is the RFC 6750 ``error`` attribute of the ``WWW-Authenticate``
    challenge: ``invalid_request`` when no bearer token was sent, else ``invalid_token``.
    """

    def __init__(self, message: str, *, error: str = "invalid_token") -> None:
        super().__init__(message, status=401)
        self.error = error


class MissingScopeError(AuthError):
    """A valid token that does not grant the scope an operation needs (403)."""

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message, status=403)
        self.scope = scope


class KeySetUnavailableError(AuthError):
    """The JWKS could not be fetched and no key is cached: nobody can be verified (503)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=503)
