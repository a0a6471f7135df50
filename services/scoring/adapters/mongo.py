"""The metrics store on MongoDB: one ``customer_metrics`` document per customer.

Money and survey scores are Decimal128, never floats (DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, PyMongoError

from services.scoring.adapters.ports import StaleMetricsError
from services.scoring.domain.metrics import CustomerMetrics, SurveyAnswer
from shared.errors import StorageError
from shared.mongo import WHOLE_BATCH, AsyncDatabase, Document, Index, storage_errors

METRICS = "customer_metrics"
DUPLICATE_KEY = 11000
INDEXES: tuple[Index, ...] = ()  # looked up by _id only


class MongoMetricsStore:
    """:class:`~services.scoring.adapters.store.MetricsStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._metrics = database[METRICS]

    async def load(self, customer_ids: Sequence[str]) -> dict[str, CustomerMetrics]:
        if not customer_ids:
            return {}
        async with storage_errors("loading customer metrics"):
            cursor = self._metrics.find(
                {"_id": {"$in": list(set(customer_ids))}}, batch_size=WHOLE_BATCH
            )
            return {str(doc["_id"]): metrics_from_document(doc) async for doc in cursor}

    async def delete(self, customer_ids: Sequence[str]) -> None:
        async with storage_errors("erasing customer metrics"):
            await self._metrics.delete_many({"_id": {"$in": list(customer_ids)}})

    async def save(self, metrics: Sequence[CustomerMetrics]) -> None:
        if not metrics:
            return
        operations = [
            # Matching the previous version: when someone else wrote meanwhile, the upsert
            # collides on _id instead of silently overwriting their events.
            ReplaceOne(
                {"_id": item.customer_id, "version": item.version - 1},
                metrics_document(item),
                upsert=True,
            )
            for item in metrics
        ]
        try:
            await self._metrics.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if errors and all(error.get("code") == DUPLICATE_KEY for error in errors):
                stale = [metrics[error["index"]].customer_id for error in errors]
                raise StaleMetricsError(
                    f"metrics of {stale} changed meanwhile; retry the batch"
                ) from exc
            raise StorageError(f"saving customer metrics failed: {exc.details}") from exc
        except PyMongoError as exc:
            raise StorageError(f"saving customer metrics failed: {exc}") from exc


def metrics_document(metrics: CustomerMetrics) -> Document:
    return {
        "version": metrics.version,
        "eventsByChannel": dict(metrics.events_by_channel),
        "orders": metrics.orders,
        "revenue": {cur: Decimal128(amount) for cur, amount in metrics.revenue.items()},
        "surveys": {
            name: {
                "score": Decimal128(answer.score),
                "answeredAt": answer.answered_at,
                "eventId": answer.event_id,
            }
            for name, answer in metrics.surveys.items()
        },
        "applied": list(metrics.applied),
    }


def _decimal(value: Any) -> Decimal:
    return value.to_decimal() if isinstance(value, Decimal128) else Decimal(str(value))


def metrics_from_document(doc: Mapping[str, Any]) -> CustomerMetrics:
    return CustomerMetrics(
        customer_id=str(doc["_id"]),
        events_by_channel={str(k): int(v) for k, v in (doc.get("eventsByChannel") or {}).items()},
        orders=int(doc.get("orders", 0)),
        revenue={str(k): _decimal(v) for k, v in (doc.get("revenue") or {}).items()},
        surveys={
            str(name): SurveyAnswer(
                survey=str(name),
                score=_decimal(entry["score"]),
                answered_at=entry["answeredAt"],
                event_id=str(entry["eventId"]),
            )
            for name, entry in (doc.get("surveys") or {}).items()
        },
        applied=tuple(doc.get("applied") or ()),
        version=int(doc.get("version", 0)),
    )
