"""The friction detectors: each takes one customer's timeline and returns frictions.

Detectors read event time only. Those that wait for something not to happen
(a checkout never completed, a delivery never made) also take ``now`` and
fire once the deadline has passed, dated at the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.journey.domain import JourneyError
from services.journey.domain.frictions import Friction, FrictionSettings
from services.journey.domain.interactions import Interaction, chronological
from services.journey.domain.journeys import as_number
from services.journey.domain.stages import Progress
from shared.normalize.canonical import CanonicalError, timestamp

REPEATED_CONTACTS = "repeated_contacts"
ABANDONED_CHECKOUT = "abandoned_checkout"
PAYMENT_FAILURE = "payment_failure"
STALLED_STAGE = "stalled_stage"
CHANNEL_PING_PONG = "channel_ping_pong"
NEGATIVE_SURVEY = "negative_survey_after_touchpoint"
BROKEN_PROMISE = "broken_promise"


def _friction(kind: str, evidence: Sequence[Interaction], at: datetime | None = None) -> Friction:
    last = evidence[-1]
    return Friction(
        kind=kind,
        customer_id=last.customer_id,
        detected_at=at if at is not None else last.timestamp,
        channel=last.channel,
        evidence=tuple(item.id for item in evidence),
    )


def repeated_contacts(items: Sequence[Interaction], settings: FrictionSettings) -> list[Friction]:
    """``repeat_contacts`` or more support contacts within ``repeat_window``; one per episode."""
    contacts = [item for item in items if settings.contact.matches(item)]
    found, i = [], 0
    while i < len(contacts):
        limit = contacts[i].timestamp + settings.repeat_window
        episode = [c for c in contacts[i:] if c.timestamp <= limit]
        if len(episode) >= settings.repeat_contacts:
            found.append(_friction(REPEATED_CONTACTS, episode))
            i += len(episode)
        else:
            i += 1
    return found


def _same_order(a: Interaction, b: Interaction) -> bool:
    key_a, key_b = a.properties.get("order_id"), b.properties.get("order_id")
    return key_a is None or key_b is None or key_a == key_b


def abandoned_checkout(
    items: Sequence[Interaction], settings: FrictionSettings, now: datetime
) -> list[Friction]:
    """A checkout with no order within ``checkout_timeout``; retries before it count as one."""
    found: list[Friction] = []
    chain: list[Interaction] = []
    checkouts = [item for item in items if settings.checkout.matches(item)]
    orders = [item for item in items if settings.order.matches(item)]
    for n, checkout in enumerate(checkouts):
        deadline = checkout.timestamp + settings.checkout_timeout
        chain.append(checkout)
        completed = any(
            checkout.timestamp <= o.timestamp <= deadline and _same_order(checkout, o)
            for o in orders
        )
        if completed:
            chain = []
            continue
        retried = n + 1 < len(checkouts) and checkouts[n + 1].timestamp <= deadline
        if retried:
            continue
        if now > deadline:
            found.append(_friction(ABANDONED_CHECKOUT, chain, deadline))
        chain = []
    return found


def payment_failures(items: Sequence[Interaction], settings: FrictionSettings) -> list[Friction]:
    """Each failed payment."""
    return [
        _friction(PAYMENT_FAILURE, [item])
        for item in items
        if any(match.matches(item) for match in settings.payment_failure)
    ]


def stalled_stages(
    progresses: Iterable[Progress], p90: Mapping[tuple[str, str], timedelta], now: datetime
) -> list[Friction]:
    """A customer in a stage for longer than that stage's p90, dated when they passed it."""
    found = []
    for journey in progresses:
        visit = journey.current
        if visit is None:
            continue
        threshold = p90.get((visit.journey_id, visit.stage))
        if threshold is None or now - visit.entered_at <= threshold:
            continue
        found.append(
            Friction(
                kind=STALLED_STAGE,
                customer_id=journey.customer_id,
                detected_at=visit.entered_at + threshold,
                channel=visit.channel,
                evidence=(visit.entered_by,),
                journey_id=visit.journey_id,
                stage=visit.stage,
            )
        )
    return found


def channel_ping_pong(items: Sequence[Interaction], settings: FrictionSettings) -> list[Friction]:
    """Coming back to a channel already left, ``ping_pong_returns`` times within the window.

    Web → call center → web → call center is two returns; web → store → app
    (a journey moving on) is none.
    """
    runs: list[list[Interaction]] = []
    for item in items:
        if not settings.ping_pong_scope.matches(item):
            continue
        if runs and runs[-1][-1].channel == item.channel:
            runs[-1].append(item)
        else:
            runs.append([item])
    found, i = [], 0
    while i < len(runs):
        limit = runs[i][0].timestamp + settings.ping_pong_window
        seen, returns, j = {runs[i][0].channel}, 0, i + 1
        while j < len(runs) and runs[j][0].timestamp <= limit:
            returns += runs[j][0].channel in seen
            seen.add(runs[j][0].channel)
            j += 1
            if returns >= settings.ping_pong_returns:
                break
        if returns >= settings.ping_pong_returns:
            found.append(_friction(CHANNEL_PING_PONG, [run[0] for run in runs[i:j]]))
            i = j
        else:
            i += 1
    return found


def _is_negative(item: Interaction, settings: FrictionSettings) -> bool:
    bound = as_number(settings.negative_at_most.get(str(item.properties.get("survey", "")).lower()))
    score = as_number(item.properties.get("score"))
    return bound is not None and score is not None and score <= bound


def negative_surveys(items: Sequence[Interaction], settings: FrictionSettings) -> list[Friction]:
    """A negative answer within ``survey_window`` after a touchpoint (the touchpoint is blamed)."""
    found = []
    for n, item in enumerate(items):
        if not (settings.survey.matches(item) and _is_negative(item, settings)):
            continue
        before = [p for p in items[:n] if not settings.survey.matches(p)]
        if before and item.timestamp - before[-1].timestamp <= settings.survey_window:
            touchpoint = before[-1]
            found.append(
                Friction(
                    NEGATIVE_SURVEY,
                    item.customer_id,
                    item.timestamp,
                    touchpoint.channel,
                    (touchpoint.id, item.id),
                    anchor=item.id,  # two answers after one touchpoint are two frictions
                )
            )
    return found


def _deadline(promised: Any) -> datetime | None:
    """The last on-time instant: the end of a promised date (the whole day counts),
    or a promised instant itself."""
    text = str(promised).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=UTC)
        return timestamp(text)
    except (ValueError, CanonicalError):
        return None


def broken_promises(
    items: Sequence[Interaction], settings: FrictionSettings, now: datetime
) -> list[Friction]:
    """A fulfilment later than first promised (or none by then): delivery later than promised."""
    promises: dict[Any, tuple[Interaction, datetime]] = {}
    for item in items:
        key = item.properties.get(settings.promise_key)
        if key is None or key in promises or not settings.promise.matches(item):
            continue
        deadline = _deadline(item.properties.get(settings.promise_property))
        if deadline is not None:
            promises[key] = (item, deadline + settings.promise_grace)
    found = []
    for key, (promise, deadline) in promises.items():
        fulfilled = next(
            (
                item
                for item in items
                if settings.fulfilment.matches(item)
                and item.properties.get(settings.promise_key) == key
            ),
            None,
        )
        if fulfilled is not None and fulfilled.timestamp > deadline:
            found.append(_friction(BROKEN_PROMISE, [promise, fulfilled], deadline))
        elif fulfilled is None and now > deadline:
            found.append(_friction(BROKEN_PROMISE, [promise], deadline))
    return found


def deadlines(items: Sequence[Interaction], settings: FrictionSettings) -> list[datetime]:
    """When the detectors that wait for something not to happen may fire on ``items``:
    each checkout's timeout and each promised delivery's deadline (a recomputation
    then tells whether they did)."""
    found = [
        item.timestamp + settings.checkout_timeout
        for item in items
        if settings.checkout.matches(item)
    ]
    for item in items:
        if settings.promise.matches(item):
            deadline = _deadline(item.properties.get(settings.promise_property))
            if deadline is not None:
                found.append(deadline + settings.promise_grace)
    return found


def detect(
    interactions: Iterable[Interaction],
    now: datetime,
    settings: FrictionSettings | None = None,
    *,
    progresses: Iterable[Progress] = (),
    stage_p90: Mapping[tuple[str, str], timedelta] | None = None,
) -> tuple[Friction, ...]:
    """Every friction in one customer's interactions, in order of detection."""
    settings = settings or FrictionSettings()
    items = chronological(interactions)
    customers = sorted({item.customer_id for item in items})
    if len(customers) > 1:
        raise JourneyError(
            f"friction detection reads one customer at a time, got {customers}; "
            "group interactions with interactions.by_customer first"
        )
    found = [
        *repeated_contacts(items, settings),
        *abandoned_checkout(items, settings, now),
        *payment_failures(items, settings),
        *channel_ping_pong(items, settings),
        *negative_surveys(items, settings),
        *broken_promises(items, settings, now),
        *stalled_stages(progresses, stage_p90 or {}, now),
    ]
    return tuple(sorted(found, key=lambda f: (f.detected_at, f.kind, f.evidence)))
