"""What the profile worker does before resolving and while storing, for privacy's sake.

:meth:`PrivacyGate.admit` screens a batch of ingest events against suppressions
and identifier tombstones in one read (rules: :func:`services.profile.domain.privacy.screen`):
a dropped event is counted (``threadline_profile_dropped_events_total{reason}``) and
logged by its id only; an admitted one may lose tombstoned identifiers.
:func:`stored_writes` minimizes what the batch stores of each event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from prometheus_client import Counter

from services.profile.adapters.ports import ProfileWrites
from services.profile.adapters.privacy_ports import PrivacyStore
from services.profile.domain.customer import IngestedEvent
from services.profile.domain.pii import DEFAULT_POLICY, PiiPolicy
from services.profile.domain.privacy import Dropped, identity_hash, screen, stored_form
from shared.events import CloudEvent

log = logging.getLogger("threadline.profile.privacy")

DROPPED = Counter(
    "threadline_profile_dropped_events",
    "Ingest events dropped before resolution: suppressed customers, erased identifiers.",
    ["reason"],
)


@dataclass(frozen=True, slots=True)
class PrivacyGate:
    """Screening and storage minimization for the ``profile.ingest`` consumer."""

    store: PrivacyStore
    salt: str
    pii: PiiPolicy = DEFAULT_POLICY

    async def admit(
        self, batch: Sequence[CloudEvent], ingested: Sequence[IngestedEvent]
    ) -> tuple[list[CloudEvent], list[IngestedEvent]]:
        """The events of the batch that may be resolved, with the identities they keep."""
        hashes = {
            identity: identity_hash(self.salt, identity)
            for event in ingested
            for identity in event.identities
        }
        blocks = await self.store.blocks(list(set(hashes.values())))
        if not blocks:
            return list(batch), list(ingested)
        kept: tuple[list[CloudEvent], list[IngestedEvent]] = ([], [])
        for cloud_event, event in zip(batch, ingested, strict=True):
            decision = screen(event.identities, hashes, blocks)
            if isinstance(decision, Dropped):
                DROPPED.labels(decision.reason).inc()
                log.info("ingest event %s dropped: %s identifiers", event.id, decision.reason)
                continue
            if decision.stripped:
                log.info(
                    "ingest event %s: %d erased identifier(s) left unlinked",
                    event.id,
                    len(decision.stripped),
                )
                event = replace(event, identities=decision.identities)
            kept[0].append(cloud_event)
            kept[1].append(event)
        return kept


def stored_writes(writes: ProfileWrites, gate: PrivacyGate | None) -> ProfileWrites:
    """``writes`` with every event in its stored form (no IP, no PII traits…)."""
    policy = gate.pii if gate is not None else DEFAULT_POLICY
    return replace(
        writes, events=tuple(replace(e, data=stored_form(e.data, policy)) for e in writes.events)
    )
