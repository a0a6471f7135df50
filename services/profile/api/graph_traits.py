"""Trait provenance and identifier counts in the profile subgraph."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from services.profile.domain.identity import IdentityRecord
from services.profile.domain.pii import PiiPolicy
from services.profile.domain.traits import TraitState


@strawberry.type
class TraitProvenance:
    """Where a trait's current value comes from: the statement that decided it (for
    ``sum`` and ``union``, the latest one that contributed)."""

    name: str
    value: JSON
    strategy: str
    source: str
    channel: str
    event_id: str
    updated_at: datetime | None


@strawberry.type
class IdentifierCount:
    type: str
    count: int


def provenance(traits: Mapping[str, TraitState], policy: PiiPolicy | None) -> list[TraitProvenance]:
    """``policy`` is None for callers with ``pii:read``, who see every value in clear."""
    return [
        TraitProvenance(
            name=name,
            value=JSON(state.value if policy is None else policy.mask_trait(name, state.value)),
            strategy=state.strategy,
            source=state.source,
            channel=state.channel,
            event_id=state.event_id,
            updated_at=state.updated_at,
        )
        for name, state in sorted(traits.items())
        if state.present
    ]


def identifier_counts(records: Sequence[IdentityRecord]) -> list[IdentifierCount]:
    counts = Counter(record.identity.type for record in records)
    return [IdentifierCount(type=kind, count=n) for kind, n in sorted(counts.items())]
