"""Scheduled work of the scoring worker: the daily KPI snapshot, the CLV refit, re-scoring.

Every ``snapshot_check_seconds`` a worker process looks at what is due:
yesterday's company KPI snapshot when it is missing, a CLV refit when the
current model is older than ``clv_refit_hours`` (or there is none), and the
re-scoring pass (``handlers/rescoring.py``) once per UTC day and once per CLV
model version (a refit, scheduled or asked for through ``fitClvModel``). Several
processes may run it: each task is taken under a lease in the database, and
what it writes is idempotent (a snapshot is an upsert by day; a refit stores
the next version; a pass publishes derived ids and is recorded done after its
last page), so a second runner changes nothing or adds a version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from services.scoring.adapters.ports import KpiStore, ModelStore
from services.scoring.config import ScoringConfig
from services.scoring.domain import ScoringError
from services.scoring.domain.kpi_buckets import day_number, day_start
from services.scoring.handlers.rescoring import Rescoring, rescore
from services.scoring.handlers.scores import fit_clv_model
from services.scoring.queries import integration_index, kpis
from shared.errors import StorageError
from shared.events import utcnow

log = logging.getLogger("threadline.scoring.schedule")
LEASE = timedelta(minutes=10)


async def run_due(
    store: KpiStore,
    models: ModelStore,
    config: ScoringConfig,
    *,
    holder: str,
    now: datetime,
    rescoring: Rescoring | None = None,
) -> list[str]:
    """Run what is due at ``now``; returns the tasks run (no re-scoring without ``rescoring``)."""
    done = []
    yesterday = day_start(day_number(now) - 1)
    name = yesterday.date().isoformat()
    if not await models.has_snapshot(name) and await models.acquire(
        f"snapshot:{name}", holder, now, LEASE
    ):
        end = yesterday + timedelta(days=1)
        report = (await kpis(store, yesterday, end, config.rates)).report
        index = await integration_index(store, yesterday, end)
        await models.save_snapshot(
            name,
            {
                "currency": report.currency,
                "customers": report.customers,
                "orders": report.orders,
                "revenue": str(report.revenue),
                "conversionRate": report.conversion_rate,
                "repeatPurchaseRate": report.repeat_purchase_rate,
                "nps": report.nps,
                "csat": report.csat,
                "ces": report.ces,
                "integrationIndex": index.value,
                "takenAt": now,
            },
        )
        done.append(f"snapshot:{name}")
    due = config.clv_refit_hours > 0 and await _refit_due(models, config, now)
    if due and await models.acquire("clv-refit", holder, now, LEASE):
        try:
            await fit_clv_model(store, models, config=config, as_of=now, now=now)
            done.append("clv-refit")
        except ScoringError as exc:
            log.warning("scheduled CLV refit skipped: %s", exc)
    if rescoring is not None:
        done += await _rescore_due(rescoring, models, config, holder=holder, now=now)
    return done


async def _rescore_due(
    rescoring: Rescoring, models: ModelStore, config: ScoringConfig, *, holder: str, now: datetime
) -> list[str]:
    """One pass for today and the current model version, unless both have had theirs."""
    latest = await models.latest_clv()
    if latest is None:
        return []  # no model, no churn risk to re-evaluate
    keys = [f"day:{now.date().isoformat()}", f"clv:{latest[0]}"]
    due = sorted(set(keys) - await rescoring.store.passes_done(keys))
    if not due or not await models.acquire("rescore", holder, now, LEASE):
        return []
    try:
        await rescore(rescoring, models, config=config, now=now)
    except ScoringError as exc:
        log.warning("scheduled re-scoring skipped: %s", exc)
        return []
    await rescoring.store.mark_done(due, now)
    return [f"rescore:{key}" for key in due]


async def _refit_due(models: ModelStore, config: ScoringConfig, now: datetime) -> bool:
    latest = await models.latest_clv()
    return latest is None or now - latest[1].fitted_at >= timedelta(hours=config.clv_refit_hours)


async def run_schedule(
    store: KpiStore,
    models: ModelStore,
    config: ScoringConfig,
    stop: asyncio.Event,
    *,
    rescoring: Rescoring | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Run due tasks every ``snapshot_check_seconds`` until ``stop`` (0: never)."""
    if config.snapshot_check_seconds <= 0:
        return
    holder = uuid.uuid4().hex
    while not stop.is_set():
        try:
            await run_due(store, models, config, holder=holder, now=clock(), rescoring=rescoring)
        except (StorageError, ScoringError) as exc:
            log.warning("scheduled scoring tasks failed, retrying later: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.snapshot_check_seconds)
