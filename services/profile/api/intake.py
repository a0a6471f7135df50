"""What the collection and admin routes depend on: the :class:`Collector` and its metric.

The routes find a :class:`Collector` in ``request.state.collector`` (put there
by the profile service's bootstrap) unless they are given a getter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter
from starlette.requests import Request

from services.profile.adapters.ports import Quarantine
from services.profile.api.http import RequestRejectedError
from shared.auth import ADMIN, TokenVerifier, WriteKeys, bearer_token
from shared.bus.ports import Consumers, Publisher
from shared.errors import AuthError
from shared.normalize import source_id

COLLECTED = Counter(
    "threadline_collected_events",
    "Events the collection API handled: accepted (broker confirmed) or quarantined.",
    ["outcome"],
)

CollectorOf = Callable[[Request], "Collector"]


@dataclass(slots=True)
class Collector:
    """What the collection routes need; built once per process in the lifespan.

    ``parking`` is the bus's view of parked messages (the admin routes list and
    replay them); ``None`` where no bus consumer groups exist, e.g. unit tests.
    """

    publisher: Publisher
    quarantine: Quarantine
    write_keys: WriteKeys
    tokens: TokenVerifier | None = None
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    parking: Consumers | None = None
    default_region: str | None = None
    """``THREADLINE_DEFAULT_PHONE_REGION``: where national phone numbers are read."""
    _sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, write_key: str) -> str:
        # Cached per valid key only (keys are few), so the dict cannot grow unbounded.
        source = self._sources.get(write_key)
        if source is None:
            source = self._sources[write_key] = source_id(write_key)
        return source


async def require_admin(collector: Collector, request: Request) -> None:
    """Reject the request unless it carries a bearer token with scope ``admin``."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise RequestRejectedError(401, "admin endpoints need a bearer token with scope admin")
    if collector.tokens is None:
        raise RequestRejectedError(
            401, "token verification is not configured: set THREADLINE_JWT_SECRET or _JWKS_URL"
        )
    try:
        principal = await collector.tokens.verify(token)
        principal.require(ADMIN)
    except AuthError as exc:
        raise RequestRejectedError(exc.status, str(exc)) from None
