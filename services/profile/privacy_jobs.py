"""Privacy jobs: requested through the graph, run step by step by the ``profile.privacy``
consumer.

:func:`request_job` records a job (``pending``) and publishes the command
``io.threadline.profile.privacy_job`` (partition key: the customer id, so one
customer's jobs run in order). :func:`run_job` works its remaining steps
(:data:`services.profile.domain.privacy.STEPS`), saving the job after each one: a
worker that crashes mid-job leaves the command unacknowledged, the bus delivers it
again and the job resumes after its last saved step. Every step is idempotent, so a
crash between a step and its save only repeats that step. A job that cannot run
(unknown customer) ends ``failed`` with the reason; storage or broker failures are
retried by the bus and, past its attempts, parked with the job left ``running``.

Delete publishes ``io.threadline.customer.erased`` with an id derived from the job,
so even a repeated publish step reaches each consumer once.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from services.profile.adapters.ports import ProfileStore
from services.profile.adapters.privacy_ports import PrivacyStore, ProfilePart
from services.profile.domain.customer import Customer
from services.profile.domain.pii import DEFAULT_POLICY, PiiPolicy
from services.profile.domain.privacy import (
    JobKind,
    PrivacyJob,
    PrivacyJobError,
    ReportSources,
    anonymized_form,
    identity_hash,
    pii_trait_names,
    profile_report,
)
from shared.bus.ports import ConsumerSpec, Publisher
from shared.errors import BusError
from shared.events import CloudEvent, derived_id, format_time

log = logging.getLogger("threadline.profile.privacy")

SOURCE = "threadline/profile"
JOB_REQUESTED = "io.threadline.profile.privacy_job"
CUSTOMER_ERASED = "io.threadline.customer.erased"
CONSUMER = "profile.privacy"
BINDINGS = ("profile.privacy_job",)


def _now() -> datetime:
    # Millisecond precision: what MongoDB keeps, so a job reads back as it was saved.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class PrivacyRuntime:
    """What privacy jobs work with: the profile's data, the privacy store, the bus."""

    profile: ProfileStore
    privacy: PrivacyStore
    publisher: Publisher
    salt: str
    pii: PiiPolicy = DEFAULT_POLICY
    clock: Callable[[], datetime] = field(default=_now)


async def request_job(
    runtime: PrivacyRuntime, kind: JobKind, customer_id: str, requested_by: str
) -> PrivacyJob:
    """Record a pending job and hand it to the ``profile.privacy`` consumer."""
    job = PrivacyJob(
        id=uuid.uuid4().hex,
        kind=kind,
        customer_id=customer_id,
        requested_by=requested_by,
        created_at=runtime.clock(),
    )
    await runtime.privacy.add_job(job)
    try:
        await runtime.publisher.publish(
            [
                CloudEvent(
                    type=JOB_REQUESTED,
                    source=SOURCE,
                    id=derived_id("privacy_job", job.id),
                    subject=customer_id,
                    partitionkey=customer_id,
                    data={"jobId": job.id, "kind": kind, "customerId": customer_id},
                )
            ]
        )
    except BusError as exc:
        await runtime.privacy.save_job(job.failed(runtime.clock(), f"{exc}; request it again"))
        raise
    return job


async def run_job(runtime: PrivacyRuntime, job_id: str) -> PrivacyJob | None:
    """Work the job's remaining steps; ``None`` when no such job was recorded."""
    job = await runtime.privacy.job(job_id)
    if job is None or job.finished:
        return job
    if job.status == "pending":
        job = job.started()
        await runtime.privacy.save_job(job)
    for step in job.remaining:
        try:
            job = (await _STEPS[step](runtime, job)).stepped(step)
        except PrivacyJobError as exc:
            job = job.failed(runtime.clock(), str(exc))
            await runtime.privacy.save_job(job)
            log.warning("privacy job %s (%s) failed: %s", job.id, job.kind, exc)
            return job
        await runtime.privacy.save_job(job)
    job = job.done(runtime.clock())
    await runtime.privacy.save_job(job)
    log.info("privacy job %s (%s) done", job.id, job.kind)
    return job


def privacy_consumer(runtime: PrivacyRuntime) -> ConsumerSpec:
    async def handle(batch: Sequence[CloudEvent]) -> None:
        for event in batch:
            job_id = event.data.get("jobId")
            if isinstance(job_id, str):
                await run_job(runtime, job_id)
            else:
                log.warning("privacy job command %s names no jobId; ignored", event.id)

    return ConsumerSpec(CONSUMER, BINDINGS, handle)


async def _hashes(runtime: PrivacyRuntime, customer_id: str) -> list[str]:
    records = await runtime.profile.identities(customer_id)
    return [identity_hash(runtime.salt, record.identity) for record in records]


async def _existing(runtime: PrivacyRuntime, customer_id: str) -> None:
    if not await runtime.profile.customers([customer_id]):
        raise PrivacyJobError(
            f"customer {customer_id} does not exist (or was erased already); check the id "
            "with customer(id:) or customerByIdentity"
        )


async def _suppress(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await _existing(runtime, job.customer_id)
    hashes = await _hashes(runtime, job.customer_id)
    await runtime.privacy.suppress(job.customer_id, hashes, runtime.clock())
    return job


async def _unsuppress(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await runtime.privacy.unsuppress(job.customer_id)
    return job


async def _capture(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await _existing(runtime, job.customer_id)
    # The customer's own id and every id merged into it: their identifiers and events
    # were moved onto the customer by the merges, but the merged-away documents (and the
    # data journey and scoring keep under those ids) go too.
    merged = await runtime.profile.merged_ids(job.customer_id)
    return replace(
        job,
        hashes=tuple(await _hashes(runtime, job.customer_id)),
        erased_ids=(job.customer_id, *merged),
    )


async def _tombstone(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await runtime.privacy.tombstone(job.hashes, job.id, runtime.clock())
    await runtime.privacy.unsuppress(job.customer_id)  # the tombstones supersede it
    return job


async def _erase_quarantined(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    # Before delete_identities: the identifiers' values are read from them here.
    records = await runtime.profile.identities(job.customer_id)
    gone = await runtime.privacy.erase_quarantined([r.identity.value for r in records])
    log.info("privacy job %s erased %d quarantined events", job.id, gone)
    return job


async def _forget_reports(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await runtime.privacy.forget_reports(job.erased_ids)
    return job


async def _erase(part: ProfilePart, runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    gone = await runtime.privacy.erase(part, job.erased_ids)
    log.info("privacy job %s erased %d %s", job.id, gone, part)
    return job


async def _publish_erased(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    at = runtime.clock()
    await runtime.publisher.publish(
        [
            CloudEvent(
                type=CUSTOMER_ERASED,
                source=SOURCE,
                id=derived_id("customer.erased", job.id),
                time=at,
                subject=job.customer_id,
                partitionkey=job.customer_id,
                data={
                    "customerId": job.customer_id,
                    "erasedIds": list(job.erased_ids),
                    "jobId": job.id,
                    "at": format_time(at),
                },
            )
        ]
    )
    return job


async def _anonymize_events(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await _existing(runtime, job.customer_id)
    await runtime.privacy.rewrite_events(
        job.customer_id, partial(anonymized_form, policy=runtime.pii)
    )
    return job


async def _anonymize_customer(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    customer = (await runtime.profile.customers([job.customer_id])).get(job.customer_id)
    if customer is not None:
        names = pii_trait_names(customer.traits, runtime.pii)
        await runtime.privacy.remove_traits(job.customer_id, names)
    return job


async def _anonymize_identities(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    await runtime.privacy.erase("identities", [job.customer_id])
    return job


async def _export(runtime: PrivacyRuntime, job: PrivacyJob) -> PrivacyJob:
    report = await profile_export(runtime.profile, job.customer_id, runtime.clock())
    if report is None:
        await _existing(runtime, job.customer_id)  # raises: the customer is gone
    return replace(job, report=report)


async def profile_export(
    store: ProfileStore, customer_id: str, at: datetime
) -> dict[str, Any] | None:
    """The profile's part of a data-subject report, or ``None`` for an unknown customer:
    the customer with traits (value, source, channel, time) and consents, its
    identities, and its stored events."""
    customer = (await store.customers([customer_id])).get(customer_id)
    if customer is None:
        return None
    identities = await store.identities(customer_id)
    events = await store.events(customer_id)
    return profile_report(
        ReportSources(
            customer=_customer_export(customer),
            identities=[_as_dict(record) for record in identities],
            events=[_as_dict(event) for event in events],
        ),
        at,
    )


def _customer_export(customer: Customer) -> Mapping[str, Any]:
    """The customer as a report reads it: each trait's value with its provenance and
    every statement kept about it, not the store's internal state."""
    found = dict(_as_dict(customer))
    found.pop("revision", None)
    found["traits"] = {
        name: {
            "value": trait.value,
            "strategy": trait.strategy,
            "source": trait.source,
            "channel": trait.channel,
            "event_id": trait.event_id,
            "updated_at": trait.updated_at,
            "statements": [_as_dict(op) for op in trait.ops],
        }
        for name, trait in customer.traits.items()
        if trait.present
    }
    return found


def _as_dict(value: Any) -> Mapping[str, Any]:
    found: Mapping[str, Any] = dataclasses.asdict(value)
    return found


StepFn = Callable[[PrivacyRuntime, PrivacyJob], Awaitable[PrivacyJob]]
_STEPS: Mapping[str, StepFn] = {
    "suppress": _suppress,
    "unsuppress": _unsuppress,
    "capture": _capture,
    "tombstone": _tombstone,
    "delete_events": partial(_erase, "events"),
    "delete_identities": partial(_erase, "identities"),
    "delete_customers": partial(_erase, "customers"),
    "delete_quarantined": _erase_quarantined,
    "forget_reports": _forget_reports,
    "publish_erased": _publish_erased,
    "anonymize_events": _anonymize_events,
    "anonymize_customer": _anonymize_customer,
    "forget_identities": _anonymize_identities,
    "export": _export,
}
