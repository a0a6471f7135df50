"""Limit slots on MongoDB: the collection ``identity_slots``, one document per slot.

A slot's ``_id`` is ``customer|type|ordinal`` (:class:`IdentitySlot`), so two
batches that decided on the same count of a limited type collide on the unique
``_id``: the insert is the compare-and-set, without multi-document transactions.
Slots live apart from ``identities`` on purpose: nothing that reads identities
(the graph, lookups, exports, merges, erasure) ever meets one. A slot holds no
personal data: its holder is a hash of the attaching event and identifier.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.errors import BulkWriteError, PyMongoError

from services.profile.adapters.ports import IdentityConflictError
from services.profile.domain.identity_slots import IdentitySlot
from shared.errors import StorageError
from shared.mongo import AsyncDatabase, Document, storage_errors

IDENTITY_SLOTS = "identity_slots"
DUPLICATE_KEY = 11000


def slot_document(slot: IdentitySlot) -> Document:
    return {
        "_id": slot.key,
        "customerId": slot.customer_id,
        "type": slot.type,
        "ordinal": slot.ordinal,
        "holder": slot.holder,
    }


class SlotClaims:
    """Claims and releases of limit slots (see :mod:`services.profile.domain.identity_slots`)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._slots = database[IDENTITY_SLOTS]

    async def claim(self, slots: Sequence[IdentitySlot]) -> list[IdentitySlot]:
        """Claim ``slots`` all-or-nothing; the ones this call inserted.

        A slot its own holder claimed before (a replayed batch) passes. A slot
        another holder has is a conflict: what this call inserted is released and
        :class:`IdentityConflictError` names the identifier that lost its slot.
        """
        pending = sorted(slots, key=lambda slot: slot.key)
        inserted: list[IdentitySlot] = []
        while pending:
            try:
                failed = await self._insert(pending)
            except StorageError:
                await self.release(inserted)  # what this call surely took; the rest is its own
                raise
            if failed is None:
                return inserted + pending
            inserted += pending[:failed]
            slot = pending[failed]
            async with storage_errors("reading a contested identity slot"):
                doc = await self._slots.find_one({"_id": slot.key}, {"holder": 1})
            if doc is None or doc.get("holder") != slot.holder:
                await self.release(inserted)
                raise IdentityConflictError([slot.identity] if slot.identity else [])
            pending = pending[failed + 1 :]  # ours already: a replay
        return inserted

    async def forget(self, customer_id: str) -> None:
        """Drop a customer's slots, once identifiers left it (a split): its remaining
        ones are counted afresh by the next attachment, from what it holds then."""
        async with storage_errors("releasing the identity slots of a split customer"):
            await self._slots.delete_many({"customerId": customer_id})

    async def _insert(self, slots: Sequence[IdentitySlot]) -> int | None:
        """Insert in order; the index of the first slot already taken, or ``None``."""
        try:
            await self._slots.insert_many([slot_document(s) for s in slots], ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if len(errors) != 1 or errors[0].get("code") != DUPLICATE_KEY:
                codes = sorted({str(error.get("code")) for error in errors})
                raise StorageError(
                    f"claiming identity slots failed: {len(errors)} write error(s), codes {codes}"
                ) from exc
            return int(errors[0]["index"])
        except PyMongoError as exc:
            raise StorageError(f"claiming identity slots failed: {exc}") from exc
        return None

    async def release(self, slots: Sequence[IdentitySlot]) -> None:
        """Delete slots this holder claimed (a slot of another holder stays)."""
        if slots:
            async with storage_errors("releasing the identity slots of a conflicting batch"):
                await self._slots.delete_many(
                    {"$or": [{"_id": s.key, "holder": s.holder} for s in slots]}
                )
