"""Consent in the profile subgraph: ``Consent``, ``ConsentStatement`` and ``setConsent``.

``setConsent`` needs the scope ``consent:write`` (or ``admin``): a preference
centre or a call-centre tool may record consent without being able to change
anything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import strawberry
from graphql import GraphQLError

from services.profile.adapters.ports import ProfileStore
from services.profile.consent_handlers import SetConsent, UnknownCustomerError, handle_set_consent
from services.profile.domain.consent import (
    CHANNEL_PURPOSE,
    CHANNELS,
    STATUSES,
    ConsentState,
    Status,
    canonical_purpose,
    status_of,
)
from shared.auth import CONSENT_WRITE, Principal
from shared.bus.ports import Publisher
from shared.subgraph import require_scope


@strawberry.type
class Consent:
    """The current state of a purpose (``channel`` null) or of a contact channel."""

    purpose: str
    channel: str | None
    status: str
    granted: bool
    updated_at: datetime
    source: str
    event_id: str

    @classmethod
    def of(cls, state: ConsentState) -> Consent:
        return cls(
            purpose=state.purpose,
            channel=state.channel,
            status=state.status,
            granted=state.granted,
            updated_at=state.updated_at,
            source=state.source,
            event_id=state.event_id,
        )


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(f"setConsent: {message}", extensions={"code": "BAD_USER_INPUT"})


def _command(
    customer_id: str,
    purpose: str | None,
    channel: str | None,
    status: str,
    source: str,
    operator: str,
) -> SetConsent:
    parsed: Status | None = status_of(status)
    if parsed is None:
        raise _bad_input(f"status {status!r} is unknown; use one of {', '.join(STATUSES)}")
    if channel is not None and channel.lower() not in CHANNELS:
        raise _bad_input(
            f"channel {channel!r} is unknown; use one of {', '.join(CHANNELS)}, or leave it "
            "out for a purpose-level statement"
        )
    name = canonical_purpose(purpose or (CHANNEL_PURPOSE if channel else ""))
    if not name:
        raise _bad_input(
            "purpose is missing; name one (analytics, marketing, personalization, "
            "sale_sharing) or give a channel"
        )
    return SetConsent(
        customer_id=customer_id,
        purpose=name,
        status=parsed,
        source=source.strip() or "operator",
        channel=channel.lower() if channel else None,
        operator=operator,
    )


class ConsentContext(Protocol):
    @property
    def principal(self) -> Principal: ...
    @property
    def store(self) -> ProfileStore: ...
    @property
    def publisher(self) -> Publisher | None: ...


async def set_consent(
    context: ConsentContext,
    customer_id: str,
    status: str,
    purpose: str | None,
    channel: str | None,
    source: str,
) -> Consent:
    """``Mutation.setConsent``: check, record, publish (see the module's doc)."""
    require_scope(context.principal, CONSENT_WRITE)
    command = _command(customer_id, purpose, channel, status, source, context.principal.subject)
    if context.publisher is None:
        raise GraphQLError("setConsent: this process has no event bus to publish with")
    try:
        statement = await handle_set_consent(
            command, store=context.store, publisher=context.publisher
        )
    except UnknownCustomerError as exc:
        raise _bad_input(str(exc)) from None
    return Consent.of(statement)
