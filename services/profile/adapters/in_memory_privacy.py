"""The in-memory twin of the privacy store, over an :class:`InMemoryProfileStore`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.profile.adapters.in_memory import InMemoryProfileStore, InMemoryQuarantine
from services.profile.adapters.privacy_ports import ProfilePart
from services.profile.domain.customer import Customer
from services.profile.domain.privacy import AuditPosition, Block, PiiRead, PrivacyJob, mentions


@dataclass
class InMemoryPrivacyStore:
    """The :class:`PrivacyStore` port in dicts; ``profile`` is the store it erases from."""

    profile: InMemoryProfileStore = field(default_factory=InMemoryProfileStore)
    block_docs: dict[str, tuple[Block, str | None]] = field(default_factory=dict)
    job_docs: dict[str, PrivacyJob] = field(default_factory=dict)
    audit_docs: dict[str, PiiRead] = field(default_factory=dict)
    quarantine: InMemoryQuarantine = field(default_factory=InMemoryQuarantine)

    async def blocks(self, hashes: Sequence[str]) -> dict[str, Block]:
        return {h: self.block_docs[h][0] for h in hashes if h in self.block_docs}

    async def suppress(self, customer_id: str, hashes: Sequence[str], at: datetime) -> None:
        for h in hashes:
            self.block_docs.setdefault(h, ("suppressed", customer_id))

    async def unsuppress(self, customer_id: str) -> None:
        for h, (state, owner) in list(self.block_docs.items()):
            if state == "suppressed" and owner == customer_id:
                del self.block_docs[h]

    async def tombstone(self, hashes: Sequence[str], job_id: str, at: datetime) -> None:
        for h in hashes:
            self.block_docs[h] = ("erased", None)

    async def add_job(self, job: PrivacyJob) -> None:
        self.job_docs.setdefault(job.id, job)

    async def save_job(self, job: PrivacyJob) -> None:
        self.job_docs[job.id] = job

    async def job(self, job_id: str) -> PrivacyJob | None:
        return self.job_docs.get(job_id)

    async def jobs(self, customer_id: str | None, limit: int) -> list[PrivacyJob]:
        found = [j for j in self.job_docs.values() if customer_id in (None, j.customer_id)]
        found.sort(key=lambda job: (job.created_at, job.id), reverse=True)
        return found[:limit]

    async def erase(self, part: ProfilePart, customer_ids: Sequence[str]) -> int:
        ids = set(customer_ids)
        collections: dict[str, dict[Any, Any]] = {
            "events": self.profile.event_docs,
            "identities": self.profile.identity_docs,
            "customers": self.profile.customer_docs,
        }
        docs = collections[part]
        gone = [key for key, doc in docs.items() if _owner(doc) in ids]
        for key in gone:
            del docs[key]
        return len(gone)

    async def erase_quarantined(self, values: Sequence[str]) -> int:
        if not values:
            return 0
        patterns = [re.compile(p, re.IGNORECASE) for p in mentions(values)]
        entries = self.quarantine.entries
        gone = [k for k, e in entries.items() if any(p.search(e.payload) for p in patterns)]
        for key in gone:
            del entries[key]
        return len(gone)

    async def forget_reports(self, customer_ids: Sequence[str]) -> None:
        for key, job in list(self.job_docs.items()):
            if job.customer_id in customer_ids:
                self.job_docs[key] = replace(job, report=None)

    async def rewrite_events(
        self, customer_id: str, rewrite: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> int:
        events = self.profile.event_docs
        mine = [k for k, e in events.items() if e.customer_id == customer_id]
        for key in mine:
            events[key] = replace(events[key], data=rewrite(events[key].data), identities=())
        return len(mine)

    async def remove_traits(self, customer_id: str, names: Sequence[str]) -> None:
        customer = self.profile.customer_docs.get(customer_id)
        if customer is not None:
            traits = {k: v for k, v in customer.traits.items() if k not in set(names)}
            self.profile.customer_docs[customer_id] = replace(customer, traits=traits)

    async def record_read(self, entry: PiiRead) -> None:
        self.audit_docs.setdefault(entry.id, entry)

    async def reads(self, limit: int, after: AuditPosition | None) -> list[PiiRead]:
        found = sorted(self.audit_docs.values(), key=lambda e: e.position, reverse=True)
        if after is not None:
            found = [entry for entry in found if entry.position < after]
        return found[:limit]


def _owner(doc: Any) -> str:
    return str(doc.id if isinstance(doc, Customer) else doc.customer_id)
