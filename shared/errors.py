"""The root of every error the shared runtime raises."""

from __future__ import annotations


class ThreadlineError(Exception):
    """Root of all Threadline errors; entrypoints map subclasses to HTTP, GraphQL or NACK."""


class ConfigurationError(ThreadlineError):
    """A setting is missing or malformed."""


class StorageError(ThreadlineError):
    """The database failed or is unreachable."""


class BusError(ThreadlineError):
    """The message broker failed, is unreachable, or did not confirm a publish."""


class AuthError(ThreadlineError):
    """Credentials are missing, invalid, or lack the needed scope."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class ValidationError(ThreadlineError):
    """Input failed validation; `problems` maps a field path to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        summary = "; ".join(f"{field}: {reason}" for field, reason in self.problems.items())
        super().__init__(summary or "invalid input")
