"""Journey definitions and trigger rules on MongoDB.

Each version of a journey is its own document (``<id>@<version>``), inserted once:
two concurrent updates of one journey cannot both become the same version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.journey.adapters.mongo import DEFINITIONS, TRIGGERS
from services.journey.domain.definitions import journey_document, journey_of, trigger_of
from services.journey.domain.journeys import DefinitionError, Journey
from services.journey.domain.triggers import Trigger
from shared.mongo import AsyncDatabase, Document, DuplicateKeyError, storage_errors


class MongoCatalogStore:
    """:class:`~services.journey.adapters.ports.CatalogStore` on MongoDB."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._definitions = database[DEFINITIONS]
        self._triggers = database[TRIGGERS]

    async def journeys(self) -> list[Journey]:
        async with storage_errors("reading journey definitions"):
            docs = [doc async for doc in self._definitions.find({})]
        return [journey_of(doc, int(doc["version"])) for doc in docs]

    async def add_journey(self, journey: Journey) -> None:
        document = {"_id": f"{journey.id}@{journey.version}", **journey_document(journey)}
        try:
            async with storage_errors("saving a journey definition"):
                await self._definitions.insert_one(document)
        except DuplicateKeyError:
            raise DefinitionError(
                f"journey {journey.id!r} version {journey.version} was saved meanwhile; "
                "read the journeys again and update the newest version"
            ) from None

    async def triggers(self) -> list[Trigger]:
        async with storage_errors("reading trigger rules"):
            docs = [doc async for doc in self._triggers.find({})]
        return [trigger_of({**doc, "id": doc["_id"]}) for doc in docs]

    async def add_trigger(self, document: Mapping[str, Any]) -> None:
        trigger_of(document)  # refuse a malformed rule before storing it
        body = {key: value for key, value in document.items() if key != "id"}
        async with storage_errors("saving a trigger rule"):
            await self._triggers.replace_one({"_id": document["id"]}, body, upsert=True)
