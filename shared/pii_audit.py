"""The audit of reads of personal data in clear, for subgraphs that keep their own log.

The profile service keeps the PII audit log that ``piiAuditLog`` serves; journey and
scoring cannot write into the profile's database (no service reaches into another's
data), so their data-subject exports (``Customer.journeyExport``,
``Customer.scoringExport``) are recorded in a ``pii_audit`` collection of their own
database, in the same shape: who, when, which customers, which fields, the request id
(the gateway forwards ``traceparent``, so one gateway request carries one id into
every subgraph's entry).

:class:`PiiReadRecorder` batches one request's reads (a DataLoader) into one
:class:`PiiReadEntry`, written before any of them is answered: a read that cannot be
audited fails instead of answering. The profile's ``PiiReadLog`` is this recorder
writing into its privacy store.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from strawberry.dataloader import DataLoader

from shared.auth import Principal
from shared.mongo import AsyncDatabase, Document, storage_errors

AUDIT_COLLECTION = "pii_audit"


@dataclass(frozen=True, slots=True)
class PiiReadEntry:
    """One request's reads in clear: who, when, which customers and fields."""

    id: str
    at: datetime
    principal: str
    customer_ids: tuple[str, ...]
    fields: tuple[str, ...]
    request_id: str | None


class PiiAuditSink(Protocol):
    """Where a service writes its audit entries; raises ``StorageError`` when it cannot."""

    async def record_read(self, entry: PiiReadEntry) -> None: ...


def _now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class PiiReadRecorder:
    """The per-request audit of clear reads; ``sink`` None keeps none (only contexts built
    by tests that wire no audit: each service's ``bootstrap`` always wires one)."""

    def __init__(
        self, sink: PiiAuditSink | None, principal: Principal, request_id: str | None
    ) -> None:
        self._sink = sink
        self._principal = principal
        self._request_id = request_id
        self._loader = DataLoader[tuple[str, str], None](load_fn=self._write)

    async def record(self, customer_id: str, field: str) -> None:
        """Returns once the read of ``field`` of ``customer_id`` is in the audit log."""
        if self._sink is not None:
            await self._loader.load((customer_id, field))

    async def _write(self, keys: list[tuple[str, str]]) -> list[None]:
        assert self._sink is not None
        await self._sink.record_read(
            PiiReadEntry(
                id=uuid.uuid4().hex,
                at=_now(),
                principal=self._principal.subject,
                customer_ids=tuple(sorted({customer for customer, _ in keys})),
                fields=tuple(sorted({field for _, field in keys})),
                request_id=self._request_id,
            )
        )
        return [None] * len(keys)


def request_id_of(headers: Mapping[str, str]) -> str:
    """The request's id for the audit log: ``X-Request-Id``, else the W3C trace id, else new."""
    given = headers.get("x-request-id", "").strip()
    if given:
        return given[:128]
    parts = headers.get("traceparent", "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return uuid.uuid4().hex


class MongoPiiAudit:
    """:class:`PiiAuditSink` on the service's own database (the profile's document shape)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._audit = database[AUDIT_COLLECTION]

    async def record_read(self, entry: PiiReadEntry) -> None:
        async with storage_errors("writing the PII audit log"):
            await self._audit.insert_one(audit_document(entry))


class AuditedRead(Protocol):
    """What an audit entry states, whichever service's type carries it."""

    @property
    def id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def principal(self) -> str: ...
    @property
    def customer_ids(self) -> tuple[str, ...]: ...
    @property
    def fields(self) -> tuple[str, ...]: ...
    @property
    def request_id(self) -> str | None: ...


def audit_document(entry: AuditedRead) -> Document:
    """The stored shape of an audit entry, one for the three services' logs."""
    return {
        "_id": entry.id,
        "at": entry.at,
        "principal": entry.principal,
        "customerIds": list(entry.customer_ids),
        "fields": list(entry.fields),
        "requestId": entry.request_id,
    }
