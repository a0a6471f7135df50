"""Errors of the gateway's guards; each carries its HTTP status and GraphQL error code."""

from __future__ import annotations

from shared.graphql_limits import (
    IntrospectionDisabledError,
    LimitExceededError,
    OperationRefusedError,
)
from shared.ratelimit import RateLimitedError

__all__ = [
    "AuthUnavailableError",
    "AuthenticationError",
    "IntrospectionDisabledError",
    "LimitExceededError",
    "PersistedQueryError",
    "RateLimitedError",
    "SecurityError",
]

SecurityError = OperationRefusedError
"""Root of the guards' errors: the request was refused before reaching the engine.

The same root as the document limits' errors (shared with the subgraphs), so every
transport answers a limit, an auth failure or a rate limit the same way."""


class AuthenticationError(SecurityError):
    """No usable bearer token: missing, malformed, badly signed, expired or for someone else."""

    status = 401
    code = "UNAUTHENTICATED"

    def __init__(self, message: str, *, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.error = error
        """The RFC 6750 ``error`` attribute of the ``WWW-Authenticate`` challenge."""


class AuthUnavailableError(SecurityError):
    """Tokens cannot be verified right now (the JWKS is unreachable); retry later."""

    status = 503
    code = "AUTH_UNAVAILABLE"


class PersistedQueryError(SecurityError):
    """An automatic persisted query could not be resolved (Apollo's APQ protocol)."""

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
