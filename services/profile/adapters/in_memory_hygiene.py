"""The in-memory twin of the hygiene store, for unit tests and the port's contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.profile.adapters.hygiene_ports import (
    FindingResolution,
    HygieneCursorError,
    HygienePage,
    HygieneRun,
    StoredFinding,
)
from services.profile.domain.hygiene import CustomerFacts, EventTimes, Finding
from shared.events import derived_id

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class InMemoryHygieneStore:
    """Customers and events are given (``facts``, ``events``); the rest behaves as on MongoDB."""

    facts: list[CustomerFacts] = field(default_factory=list)
    events: list[EventTimes] = field(default_factory=list)
    holder: str | None = None
    run_id: str | None = None
    lease_until: datetime = EPOCH
    next_run_at: datetime = EPOCH
    current: HygieneRun | None = None
    findings: list[Finding] = field(default_factory=list)
    resolutions: dict[int, FindingResolution] = field(default_factory=dict)
    """Resolved findings of the current run, by sequence."""
    resolved: set[str] = field(default_factory=set)
    """Keys of every finding resolved, of any run."""

    async def claim(self, holder: str, now: datetime, lease: timedelta) -> str | None:
        if self.lease_until > now or self.next_run_at > now:
            return None
        self.holder, self.lease_until, self.next_run_at = holder, now + lease, now
        self.run_id = derived_id("hygiene-run", f"{holder}:{now.isoformat()}")
        return self.run_id

    async def customer_facts(self) -> list[CustomerFacts]:
        return list(self.facts)

    async def event_times(self, batch: int = 5000) -> AsyncIterator[Sequence[EventTimes]]:
        for start in range(0, len(self.events), batch):
            yield self.events[start : start + batch]

    async def publish(
        self, run: HygieneRun, findings: Sequence[Finding], *, holder: str, next_run_at: datetime
    ) -> bool:
        if (self.holder, self.run_id) != (holder, run.id):
            return False
        self.current, self.findings, self.resolutions = run, list(findings), {}
        self.next_run_at, self.lease_until = next_run_at, run.generated_at
        return True

    async def report(self, kind: str | None, first: int, after: str | None) -> HygienePage:
        if self.current is None:
            return HygienePage(run=None, findings=(), next_cursor=None)
        ordered = sorted(
            (
                f
                for f in enumerate(self.findings)
                if (kind is None or f[1].kind == kind) and f[0] not in self.resolutions
            ),
            key=lambda item: (item[1].kind, item[0]),
        )
        start = 0
        if after is not None:
            prefix = f"{self.current.id}:"
            if not after.startswith(prefix) or not after[len(prefix) :].isdigit():
                raise HygieneCursorError(
                    f"`after` {after!r} is not a cursor of the current report (a newer run may "
                    "have replaced it); omit `after` to read the report from the beginning"
                )
            position = int(after[len(prefix) :])
            start = next((i + 1 for i, (seq, _) in enumerate(ordered) if seq == position), 0)
        page = ordered[start : start + first]
        more = start + first < len(ordered)
        return HygienePage(
            run=self.current,
            findings=[f for _, f in page],
            next_cursor=f"{self.current.id}:{page[-1][0]}" if more and page else None,
            finding_ids=[f"{self.current.id}:{seq}" for seq, _ in page],
        )

    async def finding(self, finding_id: str) -> StoredFinding | None:
        seq = self._sequence(finding_id)
        if seq is None:
            return None
        return StoredFinding(finding_id, self.findings[seq], self.resolutions.get(seq))

    async def resolve(self, finding_id: str, resolution: FindingResolution) -> bool:
        seq = self._sequence(finding_id)
        if seq is None or seq in self.resolutions or self.current is None:
            return False
        finding = self.findings[seq]
        self.resolved.add(finding.key)
        self.resolutions[seq] = resolution
        counts = dict(self.current.counts)
        counts[finding.kind] = counts.get(finding.kind, 0) - 1
        self.current = replace(self.current, counts=counts)
        return True

    async def resolved_keys(self, keys: Sequence[str]) -> set[str]:
        return self.resolved & set(keys)

    def _sequence(self, finding_id: str) -> int | None:
        if self.current is None:
            return None
        run_id, _, seq = finding_id.partition(":")
        if run_id != self.current.id or not seq.isdigit() or int(seq) >= len(self.findings):
            return None
        return int(seq)
