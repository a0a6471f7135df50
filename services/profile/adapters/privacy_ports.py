"""The privacy store port: suppressions, tombstones, privacy jobs, the PII audit log, and
the erasure and anonymization of a customer's profile data.

:class:`~services.profile.adapters.mongo_privacy.MongoPrivacyStore` implements it on
MongoDB, :class:`~services.profile.adapters.in_memory_privacy.InMemoryPrivacyStore` in
dicts. Every write is idempotent: suppressions and tombstones are keyed by identifier
hash, jobs by id, audit entries by id, and deleting what is gone deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from services.profile.domain.privacy import AuditPosition, Block, PiiRead, PrivacyJob

ProfilePart = Literal["events", "identities", "customers"]
"""The profile collections an erasure empties, in the order a delete job empties them."""


class PrivacyStore(Protocol):
    async def blocks(self, hashes: Sequence[str]) -> dict[str, Block]:
        """Which of ``hashes`` are suppressed or tombstoned (a tombstone wins)."""

    async def suppress(self, customer_id: str, hashes: Sequence[str], at: datetime) -> None:
        """Suppress the identifiers of ``customer_id`` (by hash) until :meth:`unsuppress`."""

    async def unsuppress(self, customer_id: str) -> None:
        """Lift every suppression made for ``customer_id``; tombstones stay."""

    async def tombstone(self, hashes: Sequence[str], job_id: str, at: datetime) -> None:
        """Tombstone identifiers (by hash) for good: nothing links them again."""

    async def add_job(self, job: PrivacyJob) -> None: ...

    async def save_job(self, job: PrivacyJob) -> None:
        """Store the job's current state (status, steps done, what it captured)."""

    async def job(self, job_id: str) -> PrivacyJob | None: ...

    async def jobs(self, customer_id: str | None, limit: int) -> list[PrivacyJob]:
        """Jobs newest first, of one customer or of all."""

    async def erase(self, part: ProfilePart, customer_ids: Sequence[str]) -> int:
        """Delete everything of ``customer_ids`` in one profile collection; how many went."""

    async def erase_quarantined(self, values: Sequence[str]) -> int:
        """Delete quarantined (rejected) raw events whose payload mentions any of ``values``
        (case-insensitively, as sent or JSON-escaped); how many went."""

    async def forget_reports(self, customer_ids: Sequence[str]) -> None:
        """Drop the export reports of the customers' privacy jobs (the jobs stay)."""

    async def rewrite_events(
        self, customer_id: str, rewrite: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> int:
        """Replace the data of each stored event of the customer by ``rewrite(data)``."""

    async def remove_traits(self, customer_id: str, names: Sequence[str]) -> None:
        """Remove the named traits (with their provenance) from the customer."""

    async def record_read(self, entry: PiiRead) -> None:
        """Append one entry to the PII audit log (durably, before the data is answered)."""

    async def reads(self, limit: int, after: AuditPosition | None) -> list[PiiRead]:
        """Audit entries newest first, strictly after ``after`` in that order."""
