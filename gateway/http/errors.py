"""Transport errors of the HTTP layer, each with the status GraphQL over HTTP prescribes."""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import ThreadlineError


class HttpError(ThreadlineError):
    """Root of the HTTP layer's errors: the request is refused with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "BAD_REQUEST",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


class EngineNotReadyError(HttpError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "the gateway is starting and has no supergraph loaded yet; retry shortly",
            code="SERVICE_UNAVAILABLE",
            headers={"retry-after": "1"},
        )
