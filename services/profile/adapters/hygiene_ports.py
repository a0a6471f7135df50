"""The port of data hygiene: reconciliation runs, what they read, the report they leave.

:class:`~services.profile.adapters.mongo_hygiene.MongoHygieneStore` and
:class:`~services.profile.adapters.in_memory_hygiene.InMemoryHygieneStore`
implement it (one contract suite runs against both).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.profile.domain import ProfileError
from services.profile.domain.hygiene import CustomerFacts, EventTimes, Finding


class HygieneCursorError(ProfileError):
    """A cursor that is not one, or one of a report a newer reconciliation run replaced."""


@dataclass(frozen=True, slots=True)
class HygieneRun:
    """One finished reconciliation: when, over how much, and how many findings of each kind."""

    id: str
    generated_at: datetime
    customers: int
    events: int
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class HygienePage:
    """Findings of the current run, in a stable order, and the cursor of the next page."""

    run: HygieneRun | None
    findings: Sequence[Finding]
    next_cursor: str | None
    finding_ids: Sequence[str] = ()
    """The findings' ids, in the same order (what ``mergeSuspectedDuplicate`` takes)."""


@dataclass(frozen=True, slots=True)
class FindingResolution:
    """How an operator resolved a finding: merged into ``survivor`` by ``by`` at ``at``."""

    survivor: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding of the current report with its id, and its resolution once resolved."""

    id: str
    finding: Finding
    resolution: FindingResolution | None = None


class HygieneStore(Protocol):
    async def claim(self, holder: str, now: datetime, lease: timedelta) -> str | None:
        """Start a run when one is due and no live lease is held by another process.

        Returns the new run's id, or None (not due, or another process runs it). A
        holder that dies keeps the lease until it expires; then anyone may run.
        """

    async def customer_facts(self) -> list[CustomerFacts]:
        """Every customer's current trait values and identifiers (anonymous ids left out)."""

    def event_times(self, batch: int = 5000) -> AsyncIterator[Sequence[EventTimes]]:
        """Every stored event's time and receipt, ``batch`` at a time."""

    async def publish(
        self, run: HygieneRun, findings: Sequence[Finding], *, holder: str, next_run_at: datetime
    ) -> bool:
        """Store the findings and make ``run`` the current report; releases the lease.

        False when the lease was lost meanwhile (another process took the run over):
        then nothing of this run stays.
        """

    async def report(self, kind: str | None, first: int, after: str | None) -> HygienePage:
        """The current run's findings (of ``kind`` when given) after the cursor ``after``.

        Raises :class:`HygieneCursorError` for a cursor of a replaced run. Resolved
        findings are left out.
        """

    async def finding(self, finding_id: str) -> StoredFinding | None:
        """A finding of the current report by id (resolved or not); None when there is none
        (a newer run replaced the report, or the id was never one)."""

    async def resolve(self, finding_id: str, resolution: FindingResolution) -> bool:
        """Mark a finding of the current report resolved: the report stops listing it, and
        later runs drop a finding with the same key (the same customers, kind and reason).

        False when it was resolved already (or is gone).
        """

    async def resolved_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these :attr:`Finding.key` values an operator resolved before."""
