"""Consent commands and events: ``setConsent`` and ``io.threadline.consent.changed``.

``consent.changed`` is published when a purpose's or channel's status moves (or
is first stated), once per change: its id derives from the causing statement, and
a replayed event finds its statement stored already, which changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from services.profile.adapters.ports import ConsentEntry, CustomerWrite, ProfileStore, ProfileWrites
from services.profile.domain import ProfileError
from services.profile.domain.consent import (
    ConsentChanged,
    ConsentState,
    Status,
    merge_consents,
    status_changes,
)
from shared.bus.ports import Publisher
from shared.events import CloudEvent, derived_id, format_time, utcnow

SOURCE = "threadline/profile"
CONSENT_CHANGED = "io.threadline.consent.changed"


class UnknownCustomerError(ProfileError):
    """A command names a customer id the profile does not know."""


@dataclass(frozen=True, slots=True)
class SetConsent:
    """An operator's (or a preference centre's) consent statement about one customer."""

    customer_id: str
    purpose: str
    status: Status
    source: str
    channel: str | None = None
    operator: str = "unknown"


def consent_changed_events(customer_id: str, changes: Iterable[ConsentChanged]) -> list[CloudEvent]:
    return [
        CloudEvent(
            type=CONSENT_CHANGED,
            source=SOURCE,
            id=derived_id("consent.changed", change.current.event_id, change.current.key),
            time=change.current.updated_at,
            subject=customer_id,
            partitionkey=customer_id,
            data={
                "customerId": customer_id,
                "purpose": change.current.purpose,
                "channel": change.current.channel,
                "status": change.current.status,
                "at": format_time(change.current.updated_at),
                "source": change.current.source,
                "causedBy": change.current.event_id,
                "previousStatus": change.previous.status if change.previous else None,
            },
        )
        for change in changes
    ]


async def handle_set_consent(
    command: SetConsent, *, store: ProfileStore, publisher: Publisher
) -> ConsentState:
    """Record the statement (now, in the history), update the state, publish if it moved."""
    customer = (await store.customers([command.customer_id])).get(command.customer_id)
    if customer is None:
        raise UnknownCustomerError(
            f"no customer {command.customer_id!r}; pass the id of an existing customer "
            "(customerByIdentity finds it by an identifier)"
        )
    statement = ConsentState(
        purpose=command.purpose,
        status=command.status,
        updated_at=utcnow(),
        source=command.source,
        event_id=f"operator:{command.operator}:{uuid.uuid4().hex}",
        channel=command.channel,
    )
    consents, changed = merge_consents(customer.consents, [statement])
    await store.save(
        ProfileWrites(
            customers=(CustomerWrite(replace(customer, consents=consents), {}, changed),),
            consent_history=(ConsentEntry(customer.id, statement),),
        )
    )
    events = consent_changed_events(customer.id, status_changes(customer.consents, changed))
    if events:
        await publisher.publish(events)
    return statement
