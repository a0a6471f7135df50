"""The gateway's guards: who is calling, how often, and how much an operation may ask for."""

from gateway.security.apq import PersistedQueries
from gateway.security.auth import Authenticator, Principal
from gateway.security.errors import (
    AuthenticationError,
    LimitExceededError,
    PersistedQueryError,
    RateLimitedError,
    SecurityError,
)
from gateway.security.limits import DocumentLimits, OperationShape
from gateway.security.ratelimit import RateLimiter

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "DocumentLimits",
    "LimitExceededError",
    "OperationShape",
    "PersistedQueries",
    "PersistedQueryError",
    "Principal",
    "RateLimitedError",
    "RateLimiter",
    "SecurityError",
]
