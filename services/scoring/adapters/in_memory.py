"""In-memory twins of the scoring service's ports, for unit tests of handlers and APIs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.scoring.adapters.ports import StaleMetricsError
from services.scoring.domain.kpi_buckets import (
    Contribution,
    Fields,
    month_rollup,
    parse_bucket_id,
    parse_month_id,
)
from services.scoring.domain.metrics import CustomerMetrics


@dataclass
class InMemoryMetricsStore:
    """:class:`MetricsStore` in a dict."""

    docs: dict[str, CustomerMetrics] = field(default_factory=dict)

    async def load(self, customer_ids: Sequence[str]) -> dict[str, CustomerMetrics]:
        return {cid: self.docs[cid] for cid in customer_ids if cid in self.docs}

    async def delete(self, customer_ids: Sequence[str]) -> None:
        for customer_id in customer_ids:
            self.docs.pop(customer_id, None)

    async def save(self, metrics: Sequence[CustomerMetrics]) -> None:
        stale = []
        for item in metrics:
            current = self.docs.get(item.customer_id)
            if (current.version if current else 0) != item.version - 1:
                stale.append(item.customer_id)
                continue
            self.docs[item.customer_id] = item
        if stale:
            raise StaleMetricsError(f"metrics of {stale} changed meanwhile; retry the batch")


Scoped = dict[str, dict[int, Fields]]


@dataclass
class InMemoryKpiBuckets:
    """:class:`KpiBuckets` over day buckets given as the store sums them (``<day>|<scope>`` →
    fields), with their month rollups summed as the store does (``month_rollup``)."""

    day_buckets: Contribution = field(default_factory=dict)

    def _by_scope(self, buckets: Contribution, parse: Callable[[str], tuple[int, str]]) -> Scoped:
        out: Scoped = {}
        for bucket, fields in buckets.items():
            number, scope = parse(bucket)
            out.setdefault(scope, {})[number] = dict(fields)
        return out

    async def buckets(self, scopes: Sequence[str] | None, first: int, end: int) -> Scoped:
        found = self._by_scope(self.day_buckets, parse_bucket_id)
        return {
            scope: kept
            for scope, days in found.items()
            if scopes is None or scope in scopes
            if (kept := {d: f for d, f in days.items() if first <= d < end})
        }

    async def days(self, scopes: Sequence[str], numbers: Sequence[int]) -> Scoped:
        return _only(self._by_scope(self.day_buckets, parse_bucket_id), scopes, numbers)

    async def months(self, scopes: Sequence[str], firsts: Sequence[int]) -> Scoped:
        rollups = month_rollup(self.day_buckets)
        return _only(self._by_scope(rollups, parse_month_id), scopes, firsts)


def _only(found: Scoped, scopes: Sequence[str], numbers: Sequence[int]) -> Scoped:
    return {
        scope: kept
        for scope in scopes
        if (kept := {n: f for n, f in found.get(scope, {}).items() if n in numbers})
    }
