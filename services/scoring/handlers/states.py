"""Crossing states follow identity changes.

``customer.merged``: the merged ids' states move to the survivor (the survivor's
own state of a score wins; a score only a merged id had comes along), so the next
evaluation of the survivor compares with what was announced for the person, and
nothing is left under ids that no longer exist. ``customer.split`` needs no move:
the original keeps what was announced for it, and the split-off customer, of whom
nothing was announced, starts on the quiet side, so its crossings are announced at
its next evaluation (its next event or the re-scoring pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.scoring.adapters.ports import KpiStore, ModelStore
from services.scoring.domain import ScoringError


async def move_merged_states(
    data: Mapping[str, Any], *, kpis: KpiStore, models: ModelStore
) -> None:
    survivor = data.get("customerId")
    if not isinstance(survivor, str) or not survivor:
        raise ScoringError(
            "customer.merged event without customerId; the profile publishes it as a string"
        )
    merged = [str(m) for m in data.get("mergedIds") or () if str(m) != survivor]
    if not merged:
        return
    survivor = (await kpis.survivors([survivor])).get(survivor, survivor)
    await models.move_states(merged, survivor)
