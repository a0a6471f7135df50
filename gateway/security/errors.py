"""Errors of the gateway's guards; each carries its HTTP status and GraphQL error code."""

from __future__ import annotations

from typing import Any

from shared.errors import ThreadlineError


class SecurityError(ThreadlineError):
    """Root of the guards' errors: the request was refused before reaching the engine."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def graphql_error(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code, **self.extensions}}


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


class LimitExceededError(SecurityError):
    """The operation is deeper, wider or costlier than this gateway serves."""

    def __init__(self, message: str, *, code: str, limit: int, measured: int) -> None:
        super().__init__(message, limit=limit, measured=measured)
        self.code = code
        self.limit = limit
        self.measured = measured


class IntrospectionDisabledError(SecurityError):
    code = "INTROSPECTION_DISABLED"


class RateLimitedError(SecurityError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PersistedQueryError(SecurityError):
    """An automatic persisted query could not be resolved (Apollo's APQ protocol)."""

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
