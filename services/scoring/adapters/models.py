"""Scoring models and small state on MongoDB: CLV fits, composite models, crossings, snapshots.

- ``clv_models``: every fit, ``_id`` its version (1, 2, …), parameters and diagnostics;
  the current model is the highest version.
- ``composite_models``: IES and CPI versions, ``_id`` ``<name>:<version>``; the
  current one per name is the latest defined (``definedAt``).
- ``score_states``: per customer, which side of each threshold it was last seen on.
- ``kpi_snapshots``: one company KPI report per UTC day, ``_id`` the date.
- ``scoring_leases``: who runs a scheduled task now (several worker processes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.scoring.domain.clv import (
    BgNbdParameters,
    ClvModel,
    FitDiagnostics,
    GammaGammaParameters,
)
from services.scoring.domain.composite import Component, CompositeModel, LinearScale
from services.scoring.domain.crossings import ScoreState
from shared.mongo import WHOLE_BATCH, AsyncDatabase, Document, Index, ascending, storage_errors

CLV_MODELS = "clv_models"
COMPOSITE_MODELS = "composite_models"
SCORE_STATES = "score_states"
SNAPSHOTS = "kpi_snapshots"
LEASES = "scoring_leases"

INDEXES: tuple[Index, ...] = (Index(COMPOSITE_MODELS, ascending("name", "definedAt")),)


class MongoModelStore:
    """Versioned CLV and composite models, threshold states, snapshots and task leases."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._clv = database[CLV_MODELS]
        self._composite = database[COMPOSITE_MODELS]
        self._states = database[SCORE_STATES]
        self._snapshots = database[SNAPSHOTS]
        self._leases = database[LEASES]

    # --- CLV ------------------------------------------------------------------------------

    async def save_clv(self, model: ClvModel, summary: Mapping[str, float]) -> int:
        """Store a fit as the next version; returns the version."""
        async with storage_errors("saving a CLV model"):
            while True:
                latest = await self._clv.find_one({}, {"_id": 1}, sort=[("_id", DESCENDING)])
                version = int(latest["_id"]) + 1 if latest else 1
                try:
                    await self._clv.insert_one(
                        {"_id": version, **clv_document(model), "summary": dict(summary)}
                    )
                    return version
                except DuplicateKeyError:
                    continue  # another process stored that version first: take the next

    async def latest_clv(self) -> tuple[int, ClvModel, dict[str, float]] | None:
        async with storage_errors("reading the CLV model"):
            doc = await self._clv.find_one({}, sort=[("_id", DESCENDING)])
        if doc is None:
            return None
        return int(doc["_id"]), clv_from_document(doc), dict(doc.get("summary") or {})

    # --- composite models -----------------------------------------------------------------

    async def save_composite(self, model: CompositeModel, at: datetime) -> bool:
        """Store a model version; False when that name and version exist already."""
        doc = {
            "_id": f"{model.name}:{model.version}",
            "name": model.name,
            "version": model.version,
            "definedAt": at,
            "components": [
                {
                    "kpi": c.kpi,
                    "weight": c.weight,
                    "low": c.scale.low,
                    "high": c.scale.high,
                    "higherIsBetter": c.scale.higher_is_better,
                }
                for c in model.components
            ],
        }
        async with storage_errors("saving a composite model"):
            try:
                await self._composite.insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    async def composites(self, name: str | None = None) -> list[CompositeModel]:
        """Every stored version, oldest first (the last of a name is its current one)."""
        query = {} if name is None else {"name": name}
        async with storage_errors("reading composite models"):
            cursor = self._composite.find(query).sort([("definedAt", 1), ("_id", 1)])
            return [composite_from_document(doc) async for doc in cursor]

    # --- threshold states -----------------------------------------------------------------

    async def states(self, customer_ids: Iterable[str]) -> dict[str, dict[str, ScoreState]]:
        """Per customer and score: the side last announced and the value seen then."""
        wanted = list(set(customer_ids))
        if not wanted:
            return {}
        async with storage_errors("reading score states"):
            cursor = self._states.find({"_id": {"$in": wanted}}, batch_size=WHOLE_BATCH)
            return {
                str(doc["_id"]): {
                    score: ScoreState(str(entry["side"]), entry.get("value"))
                    for score, entry in (doc.get("scores") or {}).items()
                }
                async for doc in cursor
            }

    async def save_states(self, states: Mapping[str, Mapping[str, ScoreState]]) -> None:
        if not states:
            return
        async with storage_errors("saving score states"):
            await self._states.bulk_write(
                [
                    UpdateOne(
                        {"_id": customer},
                        {
                            "$set": {
                                f"scores.{score}": {"side": state.side, "value": state.value}
                                for score, state in mine.items()
                            }
                        },
                        upsert=True,
                    )
                    for customer, mine in states.items()
                ],
                ordered=False,
            )

    async def forget(self, customer_ids: Sequence[str]) -> None:
        async with storage_errors("erasing score states"):
            await self._states.delete_many({"_id": {"$in": list(customer_ids)}})

    async def move_states(self, sources: Sequence[str], target: str) -> None:
        """Fill ``target``'s missing scores from the first source with one, then drop the
        sources (a crash in between is finished by a repeat: the target has them by then)."""
        moved = [s for s in dict.fromkeys(sources) if s != target]
        if not moved:
            return
        found = await self.states([*moved, target])
        taken = dict(found.get(target, {}))
        for source in moved:
            for score, state in found.get(source, {}).items():
                taken.setdefault(score, state)
        added = {k: v for k, v in taken.items() if k not in found.get(target, {})}
        await self.save_states({target: added} if added else {})
        await self.forget(moved)

    # --- snapshots and leases -------------------------------------------------------------

    async def save_snapshot(self, day: str, report: Mapping[str, Any]) -> None:
        async with storage_errors("saving a KPI snapshot"):
            await self._snapshots.update_one({"_id": day}, {"$set": dict(report)}, upsert=True)

    async def snapshots(self, first: str, end: str) -> list[dict[str, Any]]:
        async with storage_errors("reading KPI snapshots"):
            cursor = self._snapshots.find({"_id": {"$gte": first, "$lt": end}}).sort("_id", 1)
            return [dict(doc) async for doc in cursor]

    async def has_snapshot(self, day: str) -> bool:
        async with storage_errors("reading KPI snapshots"):
            return await self._snapshots.count_documents({"_id": day}, limit=1) > 0

    async def acquire(self, task: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Hold ``task`` until ``now + ttl`` unless another holder's lease is still running."""
        async with storage_errors("taking a task lease"):
            try:
                doc = await self._leases.find_one_and_update(
                    {"_id": task, "$or": [{"until": {"$lt": now}}, {"holder": holder}]},
                    {"$set": {"holder": holder, "until": now + ttl}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                return False  # the lease exists and someone else holds it
        return doc is not None and doc.get("holder") == holder


def clv_document(model: ClvModel) -> Document:
    return {
        "purchases": asdict(model.purchases),
        "spend": asdict(model.spend),
        "timeUnitDays": model.time_unit_days,
        "customers": model.customers,
        "fittedAt": model.fitted_at,
        "asOf": model.as_of,
        "purchaseFit": asdict(model.purchase_fit),
        "spendFit": asdict(model.spend_fit),
        "observedRepeatPurchases": model.observed_repeat_purchases,
        "expectedRepeatPurchases": model.expected_repeat_purchases,
    }


def clv_from_document(doc: Mapping[str, Any]) -> ClvModel:
    return ClvModel(
        purchases=BgNbdParameters(**doc["purchases"]),
        spend=GammaGammaParameters(**doc["spend"]),
        time_unit_days=float(doc["timeUnitDays"]),
        customers=int(doc["customers"]),
        fitted_at=doc["fittedAt"],
        as_of=doc["asOf"],
        purchase_fit=FitDiagnostics(**doc["purchaseFit"]),
        spend_fit=FitDiagnostics(**doc["spendFit"]),
        observed_repeat_purchases=float(doc["observedRepeatPurchases"]),
        expected_repeat_purchases=float(doc["expectedRepeatPurchases"]),
    )


def composite_from_document(doc: Mapping[str, Any]) -> CompositeModel:
    return CompositeModel(
        name=str(doc["name"]),
        version=str(doc["version"]),
        components=tuple(
            Component(
                str(c["kpi"]),
                float(c["weight"]),
                LinearScale(float(c["low"]), float(c["high"]), bool(c["higherIsBetter"])),
            )
            for c in doc["components"]
        ),
    )
