"""Segment messages to Threadline's normalized event (DESIGN.md §4), pure and deterministic.

:func:`normalize` validates one Segment message (identify, track, page,
screen, group, alias) and returns the :class:`NormalizedEvent` dict the
collector publishes as the data of ``io.threadline.ingest.<type>``. It checks
every field before it raises, so one :class:`~shared.errors.ValidationError`
names every offending field path (``batch[3].properties.currency``).

Validation is plain dict checks rather than a pydantic model: this runs for
every collected event and the collection API's throughput target leaves it a
few microseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, TypedDict

import orjson

from shared.errors import ValidationError
from shared.normalize import canonical, fields
from shared.normalize.canonical import CanonicalError
from shared.normalize.fields import ExternalId, Problems

Kind = Literal["identify", "track", "page", "screen", "group", "alias"]
KINDS: frozenset[str] = frozenset({"identify", "track", "page", "screen", "group", "alias"})
MAX_ID_LENGTH = 512
MAX_EVENT_NAME_LENGTH = 200
EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
"""Event times (after clock-skew correction) lie in [1970-01-01, receipt + 1 day].

Earlier times are unset clocks or zero epochs rather than touchpoints, and
years before 1000 do not survive RFC 3339 formatting downstream; a day of
future covers clients that send no ``sentAt`` (no correction possible) and
local times sent without an offset. Everything after the door, every consumer
included, can then rely on the range."""


class NormalizedEvent(TypedDict):
    """The ingest event's data; ``source`` identifies the write key without revealing it."""

    messageId: str
    type: str
    event: str | None
    eventName: str | None
    name: str | None
    userId: str | None
    anonymousId: str | None
    previousId: str | None
    groupId: str | None
    traits: dict[str, Any]
    properties: dict[str, Any]
    context: dict[str, Any]
    channel: str
    timestamp: str
    originalTimestamp: str | None
    sentAt: str | None
    receivedAt: str
    consent: dict[str, Any] | None
    externalIds: list[ExternalId]
    money: dict[str, str] | None
    source: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """How a message arrived: when, from which source, and its batch's shared fields.

    What all messages of a request share (the receive time's text, the batch's
    parsed ``sentAt``) is worked out once here rather than once per event.
    """

    received_at: datetime
    source: str
    sent_at: Any = None
    context: Mapping[str, Any] | None = None
    default_region: str | None = None
    """Where national phone numbers are read when an event names no country or locale."""
    received_text: str = field(init=False, repr=False, compare=False)
    shared_sent: tuple[datetime | None, str | None] = field(init=False, repr=False, compare=False)
    """The batch's ``sentAt`` parsed, or the reason it cannot be (None, None when absent)."""
    context_problems: dict[str, str] = field(init=False, repr=False, compare=False)
    """What the database could not hold in the batch's ``context`` (reported for each event)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "received_text", canonical.rfc3339(self.received_at))
        context_problems = Problems("")
        if self.context:
            fields.storable(dict(self.context), context_problems, "context")
        object.__setattr__(self, "context_problems", context_problems.found)
        shared: tuple[datetime | None, str | None] = (None, None)
        if self.sent_at is not None:
            try:
                shared = (canonical.timestamp(self.sent_at), None)
            except CanonicalError as exc:
                shared = (None, str(exc))
        object.__setattr__(self, "shared_sent", shared)


def source_id(write_key: str) -> str:
    """A non-secret id of a write key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(write_key.encode()).hexdigest()[:8]


def message_id_of(message: Mapping[str, Any]) -> str:
    """The message's ``messageId``, or one derived from its content.

    Deriving it from the payload (without the per-attempt ``sentAt``) gives a
    retried message the same id, so downstream deduplication still works.
    """
    given = message.get("messageId")
    if isinstance(given, str) and given:
        return given
    if isinstance(given, int) and not isinstance(given, bool):
        return str(given)
    content = {key: value for key, value in message.items() if key not in ("sentAt", "writeKey")}
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"derived-{digest[:32]}"


@lru_cache(maxsize=4096)
def event_key(name: str) -> str:
    """The snake_case event name (cached: a source sends few distinct names)."""
    return canonical.snake_case(name)


def normalize(
    message: Any, receipt: Receipt, *, kind: str | None = None, path: str = ""
) -> NormalizedEvent:
    """Validate and normalize one Segment message; ``kind`` is fixed by the endpoint if given.

    ``path`` prefixes every reported field (``"batch[3]."``).
    """
    problems = Problems(path)
    if not isinstance(message, dict):
        raise ValidationError({path.rstrip(".") or "body": "must be a JSON object"})
    if not fields.storable(message, problems):
        raise ValidationError(problems.found)  # too deep to look any further
    problems.found.update(receipt.context_problems)
    if kind is None:
        kind = message.get("type")
        if not isinstance(kind, str) or kind not in KINDS:
            problems.add("type", f"must be one of {', '.join(sorted(KINDS))}")
            kind = "unknown"  # still check the common fields, skip the per-type ones

    message_id = _message_id(message, problems)
    user_id, anonymous_id, previous_id, group_id = _identifiers(message, kind, problems)

    context = _object(message, "context", problems)
    if receipt.context:
        context = {**receipt.context, **context}
    traits = _object(message, "traits", problems)
    properties = _object(message, "properties", problems)
    event, event_name, name = _names(message, kind, problems)
    original_raw, original, sent_at, when = _times(message, receipt, problems)
    traits, context = _traits(kind, traits, context, problems, receipt.default_region)

    money = None
    if properties:
        properties, money = fields.money(properties, problems)
    external_ids = fields.external_ids(context.get("externalIds"), problems)
    consent = context.get("consent")
    if consent is not None and not isinstance(consent, dict):
        problems.add("context.consent", "must be a JSON object (e.g. categoryPreferences)")
        consent = None
    library = context.get("library")
    # RudderStack SDKs send the channel at the root ("server", "web", "mobile").
    channel = canonical.channel(
        context.get("channel") or message.get("channel"),
        library.get("name") if isinstance(library, dict) else None,
    )

    if problems.found:
        raise ValidationError(problems.found)

    timestamp_text, original_text = _timestamp_texts(original_raw, original, when, receipt)
    return {
        "messageId": message_id,
        "type": kind,
        "event": event,
        "eventName": event_name,
        "name": name,
        "userId": user_id,
        "anonymousId": anonymous_id,
        "previousId": previous_id,
        "groupId": group_id,
        "traits": traits,
        "properties": properties,
        "context": context,
        "channel": channel,
        "timestamp": timestamp_text,
        "originalTimestamp": original_text,
        "sentAt": canonical.rfc3339(sent_at) if sent_at is not None else None,
        "receivedAt": receipt.received_text,
        "consent": consent,
        "externalIds": external_ids,
        "money": money,
        "source": receipt.source,
    }


def _message_id(message: Mapping[str, Any], problems: Problems) -> str:
    message_id = message_id_of(message)
    raw_id = message.get("messageId")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        problems.add("messageId", "must be a string (omit it to have one derived)")
    elif len(message_id) > MAX_ID_LENGTH:
        problems.add("messageId", f"must be at most {MAX_ID_LENGTH} characters")
    return message_id


def _identifiers(
    message: Mapping[str, Any], kind: str, problems: Problems
) -> tuple[str | None, str | None, str | None, str | None]:
    """``userId``, ``anonymousId``, ``previousId`` and ``groupId``, with what each kind needs."""
    user_id = _identifier(message, "userId", problems)
    anonymous_id = _identifier(message, "anonymousId", problems)
    previous_id = group_id = None
    if kind == "alias":
        previous_id = _identifier(message, "previousId", problems)
        if previous_id is None:
            problems.add("previousId", "alias needs the previousId it merges into userId")
        if user_id is None:
            problems.add("userId", "alias needs the userId that previousId becomes")
    elif user_id is None and anonymous_id is None and not _given(message, "userId", "anonymousId"):
        problems.add("userId", "either userId or anonymousId is required")
    if kind == "group":
        group_id = _identifier(message, "groupId", problems)
        if group_id is None:
            problems.add("groupId", "group needs a groupId")
    return user_id, anonymous_id, previous_id, group_id


def _names(
    message: Mapping[str, Any], kind: str, problems: Problems
) -> tuple[str | None, str | None, str | None]:
    """A track's ``event`` and its snake_case key, or a page's or screen's ``name``."""
    if kind == "track":
        event_name, event = _event_name(message.get("event"), problems)
        return event, event_name, None
    if kind in ("page", "screen"):
        raw_name = message.get("name")
        if raw_name is not None and not isinstance(raw_name, str):
            problems.add("name", "must be a string")
        return None, None, raw_name if isinstance(raw_name, str) else None
    return None, None, None


def _timestamp_texts(
    original_raw: Any, original: datetime | None, when: datetime, receipt: Receipt
) -> tuple[str, str | None]:
    """The ``timestamp`` and ``originalTimestamp`` texts, reusing text already at hand."""
    original_text = None
    if original is not None:
        # SDKs send the canonical form already (JavaScript's toISOString): reuse the text.
        original_text = (
            original_raw if _canonical_text(original_raw) else canonical.rfc3339(original)
        )
    if original_text is not None and when is original:
        return original_text, original_text
    if when is receipt.received_at:
        return receipt.received_text, original_text
    return canonical.rfc3339(when), original_text


def _times(
    message: Mapping[str, Any], receipt: Receipt, problems: Problems
) -> tuple[Any, datetime | None, datetime | None, datetime]:
    """The original time as sent and parsed, ``sentAt``, and the corrected event time.

    The event time is corrected for clock skew and checked against the accepted range.
    """
    received_at = receipt.received_at
    original_raw = message.get("originalTimestamp")
    if original_raw is None:
        original_raw = message.get("timestamp")
        original = _time(original_raw, "timestamp", problems)
    else:
        original = _time(original_raw, "originalTimestamp", problems)
    sent_raw = message.get("sentAt")
    sent_at = None
    if sent_raw is not None:
        sent_at = _time(sent_raw, "sentAt", problems)
    else:
        sent_at, sent_problem = receipt.shared_sent
        if sent_problem is not None:
            problems.add("sentAt", sent_problem)
    when = canonical.corrected_timestamp(received_at, sent_at, original)
    if original is not None and not EARLIEST_EVENT_TIME <= when <= received_at + MAX_FUTURE:
        field_name = (
            "timestamp" if message.get("originalTimestamp") is None else "originalTimestamp"
        )
        problems.add(field_name, _out_of_range(when))
    return original_raw, original, sent_at, when


def _traits(
    kind: str,
    traits: dict[str, Any],
    context: dict[str, Any],
    problems: Problems,
    default_region: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``traits`` and ``context`` with the person traits in them normalized.

    Segment puts an identify's traits at the root, RudderStack in context.traits, and
    any call may carry the user's traits in context.traits: normalize both.
    """
    if kind == "identify" and traits:
        traits = fields.person_traits(traits, context, "traits", problems, default_region)
    context_traits = context.get("traits")
    if isinstance(context_traits, dict):
        normalized = fields.person_traits(
            context_traits, context, "context.traits", problems, default_region
        )
        if normalized is not context_traits:
            context = {**context, "traits": normalized}
    elif context_traits is not None:
        problems.add("context.traits", "must be a JSON object")
    return traits, context


def _identifier(message: Mapping[str, Any], field: str, problems: Problems) -> str | None:
    value = message.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.add(field, f"must be a string (or an integer), not {_json_kind(value)}")
        return None
    if len(value) > MAX_ID_LENGTH:
        problems.add(field, f"is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed")
        return None
    return value


def _given(message: Mapping[str, Any], *names: str) -> bool:
    """Whether any of ``names`` was sent with a value (an invalid one is reported as such)."""
    return any(message.get(name) not in (None, "") for name in names)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def _out_of_range(when: datetime) -> str:
    return (
        f"gives the event time {canonical.rfc3339(when)} (after clock-skew correction), "
        f"outside the accepted range {canonical.rfc3339(EARLIEST_EVENT_TIME)} to one day "
        "after receipt; send when the event happened, in UTC"
    )


def _object(message: Mapping[str, Any], field: str, problems: Problems) -> dict[str, Any]:
    value = message.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(field, "must be a JSON object")
        return {}
    return value


def _event_name(raw: Any, problems: Problems) -> tuple[str | None, str | None]:
    if not isinstance(raw, str) or not raw.strip():
        problems.add("event", "track needs an event name such as 'Order Completed'")
        return None, None
    if len(raw) > MAX_EVENT_NAME_LENGTH:
        problems.add("event", f"must be at most {MAX_EVENT_NAME_LENGTH} characters")
        return None, None
    try:
        return raw, event_key(raw)
    except CanonicalError as exc:
        problems.add("event", str(exc))
        return None, None


def _time(value: Any, field: str, problems: Problems) -> datetime | None:
    if value is None:
        return None
    try:
        return canonical.timestamp(value)
    except CanonicalError as exc:
        problems.add(field, str(exc))
        return None


def _canonical_text(value: Any) -> bool:
    """Whether ``value`` (already parsed as a timestamp) is exactly ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return (
        isinstance(value, str)
        and len(value) == 24
        and value[23] == "Z"
        and value[19] == "."
        and value[10] == "T"
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
    )
