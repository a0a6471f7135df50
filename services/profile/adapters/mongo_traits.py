"""Traits and consents on MongoDB: their documents and the conditional write that joins them.

Two shard consumers (or a consumer and the ``setConsent`` mutation) may write one
customer at once, each from the state it read. A plain ``$set`` would let the
slower one put back an older value; instead every write of traits and consents
is a compare-and-set on the customer's ``rev`` (a fresh token per write):

1. Write the states the handler computed over the revision it read, with the
   commutative rest of the customer's update (sightings, channels) in the same
   update. Usually nobody wrote in between and this is the only round trip.
2. If some customer's revision moved, apply the commutative rest on its own
   (idempotent, so also harmless where step 1 landed), read the customer again, join (:func:`fold`,
   :func:`fold_consents`: commutative, associative, idempotent) the stored
   states with ours, and write over the revision just read; repeat while
   others keep winning. A customer whose stored states already contain ours
   is skipped, so a write that landed is never repeated.

Every write is also fenced (``mongo_merge``): a customer merged into another takes
none, the reader raises a merge conflict for it, and the batch is decided again.

The join is exactly what applying every statement in event-time order gives, so
the stored result does not depend on which writer won: a late event never
overwrites a newer value. The trait document keeps, beside the statements
(``ops``, ``reset``), the current ``value`` and its provenance for queries.
Statement times are kept as text with microseconds (a BSON date has milliseconds,
and a statement must read back equal to itself for the join to stay idempotent).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne

from services.profile.adapters.ports import ConsentEntry, CustomerWrite
from services.profile.domain.consent import ConsentState, fold_consents, status_of
from services.profile.domain.customer import Customer
from services.profile.domain.traits import STRATEGIES, Strategy, TraitOp, TraitState, fold
from shared.errors import StorageError
from shared.mongo import AsyncCollection, Document

UNMERGED: Document = {"mergedInto": {"$exists": False}}
"""The merge fence (``mongo_merge``): no write lands on a customer merged into another."""
CAS_ATTEMPTS = 64
"""Each round of conflicting writers has one winner, so this many writers of one customer
at once all land; past it the batch fails and the bus retries it."""
CAS_BACKOFF_SECONDS = 0.002
CAS_MAX_BACKOFF_SECONDS = 0.05
Escape = Callable[[str], str]
"""The key escaping of ``mongo.py`` (which owns the customer document's layout)."""
Reader = Callable[[Sequence[str]], Awaitable[dict[str, Customer]]]
Commutative = Callable[[Customer], Document]
"""The order-independent rest of a customer's update document (``mongo.customer_changes``)."""


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def op_document(op: TraitOp) -> Document:
    return {
        "k": op.kind,
        "v": op.value,
        "t": _text(op.at),
        "e": op.event_id,
        "s": op.source,
        "c": op.channel,
    }


def op_from_document(doc: Mapping[str, Any]) -> TraitOp:
    return TraitOp(
        kind=doc["k"],
        value=doc.get("v"),
        at=datetime.fromisoformat(str(doc["t"])),
        event_id=str(doc.get("e", "")),
        source=str(doc.get("s", "")),
        channel=str(doc.get("c", "")),
    )


def trait_document(state: TraitState) -> Document:
    doc: Document = {
        "strategy": state.strategy,
        "present": state.present,
        "ops": [op_document(op) for op in state.ops],
        "reset": op_document(state.reset) if state.reset is not None else None,
    }
    if state.present:
        doc.update(
            value=state.value,
            source=state.source,
            channel=state.channel,
            eventId=state.event_id,
            updatedAt=state.updated_at,
        )
    return doc


def trait_from_document(doc: Mapping[str, Any]) -> TraitState:
    if "ops" not in doc:  # written before traits kept their statements: one set
        op = TraitOp(
            "set",
            doc.get("value"),
            _utc(doc["updatedAt"]),
            "",
            str(doc.get("source", "")),
            str(doc.get("channel", "")),
        )
        return TraitState(ops=(op,))
    strategy = str(doc.get("strategy", "latest"))
    chosen: Strategy = next((s for s in STRATEGIES if s == strategy), "latest")
    reset = doc.get("reset")
    return TraitState(
        strategy=chosen,
        ops=tuple(op_from_document(op) for op in doc["ops"]),
        reset=op_from_document(reset) if reset else None,
    )


def consent_document(consent: ConsentState) -> Document:
    return {
        "purpose": consent.purpose,
        "channel": consent.channel,
        "status": consent.status,
        "granted": consent.granted,
        "updatedAt": consent.updated_at,
        "t": _text(consent.updated_at),
        "eventId": consent.event_id,
        "source": consent.source,
    }


def consent_from_document(key: str, doc: Mapping[str, Any]) -> ConsentState:
    status = status_of(doc.get("status", bool(doc.get("granted")))) or "denied"
    at = datetime.fromisoformat(str(doc["t"])) if "t" in doc else _utc(doc["updatedAt"])
    return ConsentState(
        purpose=str(doc.get("purpose") or key),
        status=status,
        updated_at=at,
        source=str(doc.get("source", "")),
        event_id=str(doc.get("eventId", "")),
        channel=doc.get("channel"),
    )


def history_document(entry: ConsentEntry, entry_id: str) -> Document:
    return {"_id": entry_id, "customerId": entry.customer_id, **consent_document(entry.statement)}


def history_from_document(doc: Mapping[str, Any]) -> ConsentEntry:
    statement = consent_from_document(str(doc.get("purpose", "")), doc)
    return ConsentEntry(customer_id=str(doc["customerId"]), statement=statement)


class StateWriter:
    """Writes traits and consents with compare-and-set on ``rev`` (see the module's doc)."""

    def __init__(
        self,
        customers: AsyncCollection[Document],
        escape: Escape,
        read: Reader,
        commutative: Commutative,
    ) -> None:
        self._customers = customers
        self._escape = escape
        self._read = read
        self._commutative = commutative

    async def save(self, writes: Sequence[CustomerWrite]) -> None:
        """Write every customer of ``writes``: those without trait or consent changes by
        their commutative update alone, the others as described in the module's doc."""
        plain = [self._rest(w) for w in writes if not (w.traits or w.consents)]
        pending = [w for w in writes if w.traits or w.consents]
        if plain:
            await self._customers.bulk_write(plain, ordered=False)
        if not pending:
            return
        first = [self._first(w) for w in pending]
        if await self._all_matched(first):
            return
        await self._customers.bulk_write([self._rest(w) for w in pending], ordered=False)
        for attempt in range(1, CAS_ATTEMPTS + 1):
            stored = await self._read([w.customer.id for w in pending])
            updates = [u for w in pending if (u := self._joined(w, stored.get(w.customer.id)))]
            if not updates or await self._all_matched(updates):
                return
            # Jitter, so writers that collided do not collide again in lockstep.
            pause = min(CAS_MAX_BACKOFF_SECONDS, CAS_BACKOFF_SECONDS * attempt)
            await asyncio.sleep(random.uniform(0, pause))
        raise StorageError(
            f"traits and consents of {len(pending)} customer(s) kept changing under "
            f"{CAS_ATTEMPTS} conditional writes; the batch is retried"
        )

    def _rest(self, write: CustomerWrite) -> UpdateOne:
        # Fenced like every write: on a customer merged away, this upsert collides with the
        # customer's own document (a duplicate key the caller turns into a merge conflict).
        return UpdateOne(
            {"_id": write.customer.id, **UNMERGED}, self._commutative(write.customer), upsert=True
        )

    def _first(self, write: CustomerWrite) -> UpdateOne:
        customer = write.customer
        condition, sets = self._states(customer.id, customer.revision, write.traits, write.consents)
        # Without upsert: a customer not there yet fails the condition and takes step 2.
        return UpdateOne(condition, {**self._commutative(customer), "$set": sets})

    def _joined(self, write: CustomerWrite, stored: Customer | None) -> UpdateOne | None:
        if stored is None:  # not there yet: its document is being upserted beside us
            return self._update(write.customer.id, None, write.traits, write.consents)
        traits = {
            name: fold(stored.traits[name], state) if name in stored.traits else state
            for name, state in write.traits.items()
        }
        consents = fold_consents(
            {k: stored.consents[k] for k in write.consents if k in stored.consents},
            write.consents,
        )
        if all(stored.traits.get(n) == s for n, s in traits.items()) and all(
            stored.consents.get(k) == c for k, c in consents.items()
        ):
            return None  # ours is in already
        return self._update(write.customer.id, stored.revision, traits, consents)

    def _update(
        self,
        customer_id: str,
        revision: str | None,
        traits: Mapping[str, TraitState],
        consents: Mapping[str, ConsentState],
    ) -> UpdateOne:
        condition, sets = self._states(customer_id, revision, traits, consents)
        return UpdateOne(condition, {"$set": sets})

    def _states(
        self,
        customer_id: str,
        revision: str | None,
        traits: Mapping[str, TraitState],
        consents: Mapping[str, ConsentState],
    ) -> tuple[Document, Document]:
        """The compare-and-set condition and the ``$set`` of the states and a new revision."""
        sets: Document = {"rev": uuid.uuid4().hex}
        for name, state in traits.items():
            sets[f"traits.{self._escape(name)}"] = trait_document(state)
        for key, consent in consents.items():
            sets[f"consents.{self._escape(key)}"] = consent_document(consent)
        condition: Any = revision if revision is not None else {"$exists": False}
        return {"_id": customer_id, "rev": condition, **UNMERGED}, sets

    async def _all_matched(self, updates: Sequence[UpdateOne]) -> bool:
        result = await self._customers.bulk_write(list(updates), ordered=False)
        return result.matched_count == len(updates)
