"""Privacy rights: jobs and their steps, identifier tombstones, ingestion screening, the
stored form of events, anonymization and the data-subject report. Pure and synchronous.

Identifiers are never kept in clear once a person is suppressed or erased: a
suppression or a tombstone holds ``HMAC-SHA256(salt, "type:value")`` of each
identifier, the salt being the deployment's own (``THREADLINE_PRIVACY_SALT``), so
the privacy collections cannot be reversed by hashing a list of known emails.

Screening an ingested event (:func:`screen`):

- any identifier suppressed: the event is dropped (``suppressed``);
- its strongest identifier (user_id > email > phone > external ids > anonymous_id)
  tombstoned: the event is about the erased person and is dropped (``erased``),
  even when it also carries new identifiers: an erased user_id coming back on a
  new device must not rebuild the person around the new anonymous id;
- only weaker identifiers tombstoned (an erased person's old browser, now used
  to sign up with a new account): those identifiers are stripped and never
  linked again, and the event resolves on the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from services.profile.domain import ProfileError
from services.profile.domain.identity import Identity
from services.profile.domain.pii import PiiPolicy
from shared.cursors import parse_time_id_cursor, time_id_cursor
from shared.events import format_time

JobKind = Literal["suppress", "unsuppress", "delete", "anonymize", "export"]
JobStatus = Literal["pending", "running", "done", "failed"]
Block = Literal["suppressed", "erased"]

JOB_KINDS: tuple[JobKind, ...] = ("suppress", "unsuppress", "delete", "anonymize", "export")

STEPS: Mapping[JobKind, tuple[str, ...]] = {
    "suppress": ("suppress",),
    "unsuppress": ("unsuppress",),
    # ``capture`` records the identifier hashes and erased ids on the job first, so a job
    # resumed after its identities were deleted still knows what to tombstone and announce.
    # ``delete_quarantined`` finds rejected raw events by the identifiers' values, so it
    # runs while the identities still exist; export reports go with the customer.
    "delete": (
        "capture",
        "tombstone",
        "delete_quarantined",
        "delete_events",
        "delete_identities",
        "delete_customers",
        "forget_reports",
        "publish_erased",
    ),
    "anonymize": ("anonymize_events", "anonymize_customer", "forget_identities"),
    "export": ("export",),
}
"""Every kind's steps, in order; each is idempotent, so a resumed job repeats at most one."""


class PrivacyJobError(ProfileError):
    """A privacy job cannot run as asked (unknown kind, unknown customer…)."""


class InvalidAuditCursorError(ProfileError):
    """An ``after`` cursor the audit log did not issue."""


@dataclass(frozen=True, slots=True)
class PrivacyJob:
    """A privacy request and how far it got.

    ``steps_done`` grows one step at a time; ``hashes`` and ``erased_ids`` are what a
    delete job captured before it removed anything; ``report`` is an export's result.
    """

    id: str
    kind: JobKind
    customer_id: str
    requested_by: str
    created_at: datetime
    status: JobStatus = "pending"
    steps_done: tuple[str, ...] = ()
    finished_at: datetime | None = None
    error: str | None = None
    hashes: tuple[str, ...] = ()
    erased_ids: tuple[str, ...] = ()
    report: Mapping[str, Any] | None = None

    @property
    def remaining(self) -> tuple[str, ...]:
        return tuple(step for step in STEPS[self.kind] if step not in self.steps_done)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def started(self) -> PrivacyJob:
        return replace(self, status="running")

    def stepped(self, step: str) -> PrivacyJob:
        return replace(self, steps_done=(*self.steps_done, step))

    def done(self, at: datetime) -> PrivacyJob:
        return replace(self, status="done", finished_at=at, error=None)

    def failed(self, at: datetime, error: str) -> PrivacyJob:
        return replace(self, status="failed", finished_at=at, error=error)


def job_kind(kind: str) -> JobKind:
    for known in JOB_KINDS:
        if kind == known:
            return known
    raise PrivacyJobError(f"unknown privacy job kind {kind!r}; use one of {', '.join(JOB_KINDS)}")


def identity_hash(salt: str, identity: Identity) -> str:
    """The keyed hash a suppression or tombstone keeps instead of the identifier."""
    return hmac.new(salt.encode(), identity.key.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Admitted:
    """The event goes on to resolution with ``identities``; ``stripped`` were tombstoned."""

    identities: tuple[Identity, ...]
    stripped: tuple[Identity, ...] = ()


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: Block


def screen(
    identities: Sequence[Identity], hashes: Mapping[Identity, str], blocks: Mapping[str, Block]
) -> Admitted | Dropped:
    """Whether an event with ``identities`` may be resolved (see the module docstring).

    ``hashes`` maps each identity to :func:`identity_hash`; ``blocks`` says which
    hashes are suppressed or tombstoned.
    """
    found = {identity: blocks.get(hashes[identity]) for identity in identities}
    if "suppressed" in found.values():
        return Dropped("suppressed")
    erased = tuple(i for i in identities if found[i] == "erased")
    if not erased:
        return Admitted(tuple(identities))
    kept = tuple(i for i in identities if found[i] is None)
    strongest = min(identities, key=lambda identity: (identity.rank, identity))
    if not kept or strongest in erased:
        return Dropped("erased")
    return Admitted(kept, erased)


# What the profile keeps of ``context``: what resolution, channels and consent need. The
# IP address, the user agent (the channel is already inferred) and precise location go.
_DROPPED_CONTEXT = frozenset({"ip", "userAgent", "userAgentData", "location", "traits"})
_DROPPED_DEVICE = frozenset({"advertisingId", "token", "id"})


def stored_form(data: Mapping[str, Any], policy: PiiPolicy) -> dict[str, Any]:
    """An event as the profile stores it: without IP, user agent, precise location, device
    ids or PII traits (the customer's traits and identities keep what the profile needs).

    ``context.location.country`` survives as ``context.country``: coarse enough for
    aggregates by country.
    """
    stored = dict(data)
    context = data.get("context")
    if isinstance(context, Mapping):
        stored["context"] = _stored_context(context, policy)
    traits = data.get("traits")
    if isinstance(traits, Mapping):
        stored["traits"] = policy.without_pii(traits)
    return stored


def _stored_context(context: Mapping[str, Any], policy: PiiPolicy) -> dict[str, Any]:
    kept = {k: v for k, v in context.items() if k not in _DROPPED_CONTEXT}
    location = context.get("location")
    country = location.get("country") if isinstance(location, Mapping) else None
    if isinstance(country, str) and country:
        kept["country"] = country
    traits = context.get("traits")
    if isinstance(traits, Mapping):
        kept["traits"] = policy.without_pii(traits)
    device = context.get("device")
    if isinstance(device, Mapping):
        kept["device"] = {k: v for k, v in device.items() if k not in _DROPPED_DEVICE}
    return kept


_PERSONAL_FIELDS = ("userId", "anonymousId", "previousId", "externalIds", "consent")


def anonymized_form(data: Mapping[str, Any], policy: PiiPolicy) -> dict[str, Any]:
    """A stored event with nothing left that identifies the person: no ids, no traits, no
    PII-named properties; kind, name, channel, time and non-personal properties stay for
    aggregates (revenue, funnels, channel mix)."""
    stored = stored_form(data, policy)
    for name in _PERSONAL_FIELDS:
        stored.pop(name, None)
    stored.pop("traits", None)
    context = stored.get("context")
    if isinstance(context, Mapping):
        stored["context"] = {
            k: v for k, v in context.items() if k not in ("traits", "externalIds", "device")
        }
    properties = data.get("properties")
    if isinstance(properties, Mapping):
        stored["properties"] = policy.without_pii(properties)
    stored["anonymized"] = True
    return stored


def mentions(values: Iterable[str]) -> list[str]:
    """Regular expressions that find each value as a whole JSON string inside JSON text (a
    quarantined payload), written as is or JSON-escaped (with or without ``\\u`` escapes).
    Whole strings only: a user id ``1`` must not match every payload with a 1 in it."""
    found: dict[str, None] = {}
    for value in values:
        for form in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            found['"' + re.escape(form) + '"'] = None
    return list(found)


def pii_trait_names(names: Iterable[str], policy: PiiPolicy) -> list[str]:
    """The trait names anonymization removes."""
    return sorted(name for name in names if policy.is_pii(name))


@dataclass(frozen=True, slots=True)
class ReportSources:
    """What the profile holds about one customer, as read for a data-subject report."""

    customer: Mapping[str, Any]
    identities: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]] = field(default_factory=list)


def profile_report(sources: ReportSources, generated_at: datetime) -> dict[str, Any]:
    """The profile's part of a data-subject access report, as JSON-ready values."""
    return {
        "generatedAt": format_time(generated_at),
        "customer": _json_ready(sources.customer),
        "identities": [_json_ready(identity) for identity in sources.identities],
        "events": [_json_ready(event) for event in sources.events],
    }


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_json_ready(v) for v in value]
        return sorted(items, key=str) if isinstance(value, frozenset | set) else items
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)  # Decimal money and the like: their exact text


@dataclass(frozen=True, slots=True, order=True)
class AuditPosition:
    """Where an audit entry sits in the log's order (newest first by time, then id)."""

    at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class PiiRead:
    """One audit entry: who read which customers' personal data in clear, and when."""

    id: str
    at: datetime
    principal: str
    customer_ids: tuple[str, ...]
    fields: tuple[str, ...]
    request_id: str | None

    @property
    def position(self) -> AuditPosition:
        return AuditPosition(self.at, self.id)

    def cursor(self) -> str:
        return time_id_cursor(self.at, self.id)


def decode_audit_cursor(cursor: str) -> AuditPosition:
    try:
        return AuditPosition(*parse_time_id_cursor(cursor))
    except ValueError as exc:
        raise InvalidAuditCursorError(
            f"cursor {cursor!r} is not one the PII audit log issued; pass the `endCursor` "
            "of a previous page, or omit `after` to start from the newest entry"
        ) from exc
