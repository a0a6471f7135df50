"""Merging a suspected duplicate straight from the hygiene report.

The finding's customers go through the operator merge (:func:`merges.merge_customers`)
into the oldest of them, with the finding named as the merge's reason; then the
finding is marked resolved, so neither the report nor later runs list it again.
Merge first, mark second: a crash in between leaves the finding listed, and
merging it again completes it (the merge is idempotent).
"""

from __future__ import annotations

from datetime import datetime

from services.profile.adapters.hygiene_ports import FindingResolution, HygieneStore
from services.profile.adapters.ports import ProfileStore
from services.profile.merges import CustomerCommandError, merge_customers
from shared.bus.ports import Publisher


class FindingMergeError(CustomerCommandError):
    """A finding that cannot be merged: unknown, not a suspected duplicate, or resolved."""


async def merge_suspected_duplicate(
    hygiene: HygieneStore,
    store: ProfileStore,
    publisher: Publisher,
    *,
    finding_id: str,
    reason: str | None,
    operator: str,
    at: datetime,
) -> str:
    """Merge a suspected-duplicate finding's customers into its oldest; returns the survivor."""
    stored = await hygiene.finding(finding_id)
    if stored is None:
        raise FindingMergeError(
            f"no hygiene finding {finding_id} in the current report (a newer reconciliation "
            "run may have replaced it); read hygieneReport again and pass a finding's id"
        )
    finding = stored.finding
    if finding.kind != "suspected_duplicate":
        raise FindingMergeError(
            f"hygiene finding {finding_id} is a {finding.kind} finding, not a suspected "
            "duplicate; only suspected_duplicate findings can be merged"
        )
    if stored.resolution is not None:
        done = stored.resolution
        raise FindingMergeError(
            f"hygiene finding {finding_id} was already resolved: merged into {done.survivor} "
            f"by {done.by} at {done.at.isoformat()}"
        )
    why = f"hygiene finding {finding_id} ({finding.reason})"
    survivor_id, *merged_ids = finding.customer_ids
    survivor = await merge_customers(
        store,
        publisher,
        survivor_id=survivor_id,
        merged_ids=merged_ids,
        reason=f"{why}: {reason}" if reason else why,
        operator=operator,
        at=at,
    )
    # False: another operator resolved it meanwhile, after the same (idempotent) merge.
    await hygiene.resolve(finding_id, FindingResolution(survivor, operator, at))
    return survivor
