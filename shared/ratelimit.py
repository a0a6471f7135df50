"""Per-client token buckets: each client id refills at ``rate`` tokens a second up to ``burst``.

One implementation for the gateway (per client: JWT ``sub``, else IP) and for every
service's ``/graphql`` (per token subject), so a client calling a subgraph directly
is held to a rate too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from shared.graphql_limits import OperationRefusedError


class RateLimitedError(OperationRefusedError):
    """Too many requests from one client; ``retry_after`` seconds until a token is free."""

    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    """Token bucket per client (JWT ``sub``, else IP); the least recently seen are forgotten.

    Forgetting a client only ever refills its bucket, so the bound on memory
    never makes the limiter stricter than configured.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> None:
        """Spend one token of ``client``'s bucket, or raise :class:`RateLimitedError`."""
        if self.rate <= 0:
            return
        now = self._clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            retry_after = (1.0 - tokens) / self.rate
            raise RateLimitedError(
                f"too many requests from client {client!r}: the limit is {self.rate:g}/s "
                f"with bursts of {self.burst:g}; retry after {retry_after:.2f}s",
                retry_after=retry_after,
            )
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
