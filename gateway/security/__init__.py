"""The gateway's guards: who is calling, how often, and how much an operation may ask for.

Token verification itself is :mod:`shared.auth`'s, the same the services use;
the gateway only maps its refusals to :class:`AuthenticationError` (401) and
:class:`AuthUnavailableError` (503).
"""

from gateway.security.apq import PersistedQueries
from gateway.security.errors import (
    AuthenticationError,
    AuthUnavailableError,
    LimitExceededError,
    PersistedQueryError,
    RateLimitedError,
    SecurityError,
)
from gateway.security.limits import DocumentLimits, OperationShape
from shared.ratelimit import RateLimiter

__all__ = [
    "AuthUnavailableError",
    "AuthenticationError",
    "DocumentLimits",
    "LimitExceededError",
    "OperationShape",
    "PersistedQueries",
    "PersistedQueryError",
    "RateLimitedError",
    "RateLimiter",
    "SecurityError",
]
