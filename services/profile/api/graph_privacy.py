"""The profile subgraph's privacy surface (scope ``admin``): privacy jobs, the PII audit
log, ``Customer.profileExport``, and the audit of every read of personal data in clear.

Mutations ``suppressCustomer``, ``unsuppressCustomer``, ``deleteCustomer``,
``anonymizeCustomer`` and ``exportCustomer`` each record a :class:`PrivacyJob` and
return it ``pending``; the profile worker runs it (``services.profile.privacy_jobs``).
``privacyJob(id)`` / ``privacyJobs(customerId, first)`` follow it to ``done`` or
``failed``.

A resolver that answers personal data in clear (``Customer.identities``,
``Customer.traits``, ``Customer.traitProvenance`` and ``Customer.mergeLog`` for
callers with ``pii:read``, ``Customer.profileExport``,
``PrivacyJob.report``) first awaits :meth:`PiiReadLog.record`: the reads of one
request are batched (a DataLoader) into one audit entry — who, when, which
customers, which fields, the request id — written before any of them is answered.
A read that cannot be audited fails instead of answering.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from services.profile.adapters.ports import ProfileStore
from services.profile.adapters.privacy_ports import PrivacyStore
from services.profile.domain import ProfileError
from services.profile.domain.privacy import JobKind, PiiRead, decode_audit_cursor
from services.profile.domain.privacy import PrivacyJob as JobState
from services.profile.privacy_jobs import PrivacyRuntime, profile_export, request_job
from shared.auth import Principal
from shared.pii_audit import PiiReadEntry, PiiReadRecorder
from shared.pii_audit import request_id_of as request_id_of  # where the profile took it from
from shared.subgraph import require_scope

ADMIN = "admin"
PII = "pii:read"
MAX_PAGE = 100


def _now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _PrivacyStoreAudit:
    """The profile's audit log (the privacy store's, which ``piiAuditLog`` serves) as the
    sink of :class:`shared.pii_audit.PiiReadRecorder`."""

    def __init__(self, store: PrivacyStore) -> None:
        self._store = store

    async def record_read(self, entry: PiiReadEntry) -> None:
        await self._store.record_read(
            PiiRead(
                id=entry.id,
                at=entry.at,
                principal=entry.principal,
                customer_ids=entry.customer_ids,
                fields=entry.fields,
                request_id=entry.request_id,
            )
        )


class PiiReadLog(PiiReadRecorder):
    """The per-request audit of clear reads; ``store`` None means none is kept (only in
    tests that wire no privacy store: ``bootstrap`` always wires one)."""

    def __init__(
        self, store: PrivacyStore | None, principal: Principal, request_id: str | None
    ) -> None:
        super().__init__(
            _PrivacyStoreAudit(store) if store is not None else None, principal, request_id
        )


class PrivacyContext(Protocol):
    """What these resolvers need of the profile's context (``ProfileContext`` has it)."""

    @property
    def principal(self) -> Principal: ...
    @property
    def store(self) -> ProfileStore: ...
    @property
    def privacy(self) -> PrivacyRuntime | None: ...
    @property
    def pii_reads(self) -> PiiReadLog: ...


PrivacyInfo = Info[PrivacyContext, None]


@strawberry.type
class PrivacyJob:
    id: strawberry.ID
    kind: str
    customer_id: strawberry.ID
    status: str
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    steps_done: list[str]
    state: strawberry.Private[JobState]

    @classmethod
    def of(cls, job: JobState) -> PrivacyJob:
        return cls(
            id=strawberry.ID(job.id),
            kind=job.kind,
            customer_id=strawberry.ID(job.customer_id),
            status=job.status,
            requested_by=job.requested_by,
            created_at=job.created_at,
            finished_at=job.finished_at,
            error=job.error,
            steps_done=list(job.steps_done),
            state=job,
        )

    @strawberry.field
    async def report(self, info: PrivacyInfo) -> JSON | None:
        """An export job's result: the profile's part of the data-subject report."""
        if self.state.report is None:
            return None
        await info.context.pii_reads.record(self.state.customer_id, "PrivacyJob.report")
        return JSON(self.state.report)


@strawberry.type
class PiiAuditEntry:
    id: strawberry.ID
    at: datetime
    principal: str
    customer_ids: list[strawberry.ID]
    fields: list[str]
    request_id: str | None


@strawberry.type
class PiiAuditPage:
    entries: list[PiiAuditEntry]
    end_cursor: str | None
    has_next_page: bool


def _runtime(info: PrivacyInfo) -> PrivacyRuntime:
    runtime = info.context.privacy
    if runtime is None:
        raise GraphQLError(
            "privacy jobs are not available in this process: it was started without a "
            "privacy store (serve the profile through `threadline up` or `threadline serve`)",
            extensions={"code": "SERVICE_UNAVAILABLE"},
        )
    return runtime


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


async def _requested(
    info: PrivacyInfo, kind: JobKind, customer_id: strawberry.ID, *, must_exist: bool = True
) -> PrivacyJob:
    require_scope(info.context.principal, ADMIN)
    runtime = _runtime(info)
    if must_exist and not await runtime.profile.customers([str(customer_id)]):
        raise _bad_input(
            f"customer {customer_id} does not exist; look it up with customer(id:) or "
            "customerByIdentity first"
        )
    job = await request_job(runtime, kind, str(customer_id), info.context.principal.subject)
    return PrivacyJob.of(job)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation
    async def suppress_customer(self, info: PrivacyInfo, id: strawberry.ID) -> PrivacyJob:
        """Drop every future event of the customer's identifiers at ingestion."""
        return await _requested(info, "suppress", id)

    @strawberry.mutation
    async def unsuppress_customer(self, info: PrivacyInfo, id: strawberry.ID) -> PrivacyJob:
        """Lift a suppression: events of the customer's identifiers are resolved again."""
        return await _requested(info, "unsuppress", id, must_exist=False)

    @strawberry.mutation
    async def delete_customer(self, info: PrivacyInfo, id: strawberry.ID) -> PrivacyJob:
        """Erase the customer here (and, through customer.erased, in journey and scoring);
        its identifiers are tombstoned so they never recreate the person."""
        return await _requested(info, "delete", id)

    @strawberry.mutation
    async def anonymize_customer(self, info: PrivacyInfo, id: strawberry.ID) -> PrivacyJob:
        """Remove the customer's PII traits and identifiers; non-personal history stays."""
        return await _requested(info, "anonymize", id)

    @strawberry.mutation
    async def export_customer(self, info: PrivacyInfo, id: strawberry.ID) -> PrivacyJob:
        """Produce the profile's part of a data-subject access report (``report``)."""
        return await _requested(info, "export", id)


@strawberry.type
class PrivacyQuery:
    @strawberry.field
    async def privacy_job(self, info: PrivacyInfo, id: strawberry.ID) -> PrivacyJob | None:
        require_scope(info.context.principal, ADMIN)
        job = await _runtime(info).privacy.job(str(id))
        return PrivacyJob.of(job) if job is not None else None

    @strawberry.field
    async def privacy_jobs(
        self, info: PrivacyInfo, customer_id: strawberry.ID | None = None, first: int = 20
    ) -> list[PrivacyJob]:
        """Privacy jobs newest first, of one customer or of all."""
        require_scope(info.context.principal, ADMIN)
        customer = str(customer_id) if customer_id is not None else None
        jobs = await _runtime(info).privacy.jobs(customer, _page(first))
        return [PrivacyJob.of(job) for job in jobs]

    @strawberry.field
    async def pii_audit_log(
        self, info: PrivacyInfo, first: int = 20, after: str | None = None
    ) -> PiiAuditPage:
        """Reads of personal data in clear, newest first."""
        require_scope(info.context.principal, ADMIN)
        size = _page(first)
        try:
            position = decode_audit_cursor(after) if after else None
        except ProfileError as exc:
            raise _bad_input(str(exc)) from None
        found = await _runtime(info).privacy.reads(size + 1, position)
        entries = found[:size]
        return PiiAuditPage(
            entries=[
                PiiAuditEntry(
                    id=strawberry.ID(e.id),
                    at=e.at,
                    principal=e.principal,
                    customer_ids=[strawberry.ID(c) for c in e.customer_ids],
                    fields=list(e.fields),
                    request_id=e.request_id,
                )
                for e in entries
            ],
            end_cursor=entries[-1].cursor() if entries else None,
            has_next_page=len(found) > size,
        )


def _page(first: int) -> int:
    if first < 0:
        raise _bad_input(f"`first` must be zero or more, got {first}; ask for 0 to {MAX_PAGE}")
    return min(first, MAX_PAGE)


async def profile_export_field(root: Any, info: PrivacyInfo) -> JSON:
    """The profile's part of the customer's data-subject access report (identities, traits
    with provenance, consents, stored events); needs ``admin`` and ``pii:read``. The
    journey and scoring subgraphs complete the report on the same ``Customer`` with
    ``journeyExport`` (touchpoints, journeys, frictions) and ``scoringExport`` (KPI
    facts, metrics, threshold states, scores), under the same scopes; each service
    records those reads in a PII audit log of its own database (``shared.pii_audit``),
    named with the same request id, since only the profile's is served by
    ``piiAuditLog``."""
    require_scope(info.context.principal, ADMIN)
    require_scope(info.context.principal, PII)
    customer_id = str(root.id)
    await info.context.pii_reads.record(customer_id, "Customer.profileExport")
    report = await profile_export(info.context.store, customer_id, _now())
    return JSON(report or {})
