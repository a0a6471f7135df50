"""The scheduled data-hygiene reconciliation: load, decide in the domain, save the report.

Every profile process that runs the schedule (workers, and APIs started with
their worker) wakes every ``poll`` and asks the store for the run; the store's
lease lets one of them run it per interval, and another take over when a
runner dies. Findings are computed by :mod:`services.profile.domain.hygiene`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.profile.adapters.hygiene_ports import HygieneRun, HygieneStore
from services.profile.domain.hygiene import KINDS, EventTimeAnomalies, HygienePolicy, reconcile
from shared.errors import ThreadlineError

log = logging.getLogger("threadline.profile.hygiene")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class HygieneSchedule:
    """How often the reconciliation runs, what it checks, and how long a run may hold it."""

    interval: timedelta
    policy: HygienePolicy
    lease: timedelta = timedelta(minutes=15)
    """A run not published within the lease is taken over by another process."""

    @property
    def poll(self) -> timedelta:
        return min(self.interval, timedelta(minutes=1))


async def reconcile_once(
    store: HygieneStore, schedule: HygieneSchedule, *, holder: str, now: datetime
) -> HygieneRun | None:
    """Run the reconciliation if it is due and this process gets it; the run, else None."""
    run_id = await store.claim(holder, now, schedule.lease)
    if run_id is None:
        return None
    customers = await store.customer_facts()
    findings = reconcile(customers, now, schedule.policy)
    anomalies = EventTimeAnomalies(schedule.policy)
    async for chunk in store.event_times():
        for event in chunk:
            anomalies.add(event)
    findings += anomalies.findings()
    # An operator resolved these (a run that read the customers before the merge still
    # sees both): not listed again.
    resolved = await store.resolved_keys([f.key for f in findings])
    findings = [f for f in findings if f.key not in resolved]
    run = HygieneRun(
        id=run_id,
        generated_at=now,
        customers=len(customers),
        events=anomalies.scanned,
        counts={kind: sum(f.kind == kind for f in findings) for kind in KINDS},
    )
    published = await store.publish(
        run, findings, holder=holder, next_run_at=now + schedule.interval
    )
    if not published:
        log.warning("hygiene run %s outlived its lease; another process runs it", run_id)
        return None
    log.info("hygiene run %s: %s over %d customers", run_id, dict(run.counts), run.customers)
    return run


async def run_schedule(
    store: HygieneStore,
    schedule: HygieneSchedule,
    stop: asyncio.Event,
    *,
    clock: Clock = utc_now,
) -> None:
    """Reconcile whenever due until ``stop`` is set; a failed run is logged and retried."""
    holder = f"profile-{uuid.uuid4()}"
    while not stop.is_set():
        try:
            await reconcile_once(store, schedule, holder=holder, now=clock())
        except ThreadlineError as exc:
            log.warning("hygiene reconciliation failed, retrying later: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), schedule.poll.total_seconds())
