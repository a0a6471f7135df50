from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.domain.consent import (
    ConsentState,
    canonical_purpose,
    fold_consents,
    merge_consents,
    status_of,
)
from services.profile.domain.traits import TraitRules
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus
from shared.events import CloudEvent
from tests.unit.profile.profile_events import at, segment

CHANGED = "io.threadline.consent.changed"


async def _handle(
    store: InMemoryProfileStore,
    bus: InMemoryBus,
    batch: Sequence[CloudEvent],
    rules: TraitRules = TraitRules(),
) -> None:
    await handle_ingested(batch, store=store, publisher=bus, traits=rules)


def _changes(bus: InMemoryBus) -> list[dict[str, Any]]:
    return [event.data for event in bus.published if event.type == CHANGED]


def _page(message_id: str, hour: int, preferences: dict[str, Any]) -> CloudEvent:
    return segment(
        "page",
        message_id,
        userId="user-1",
        timestamp=at(hour),
        context={"consent": {"categoryPreferences": preferences}},
    )


def _preferences(message_id: str, hour: int, **properties: Any) -> CloudEvent:
    return segment(
        "track",
        message_id,
        userId="user-1",
        event="Consent Preference Updated",
        properties=properties,
        timestamp=at(hour),
    )


def _customer(store: InMemoryProfileStore) -> str:
    [customer_id] = store.customer_docs
    return customer_id


async def test_segment_category_preferences_become_consent_state_history_and_events():
    store, bus = InMemoryProfileStore(), InMemoryBus()

    await _handle(store, bus, [_page("m1", 10, {"Marketing": True, "analytics": False})])

    customer_id = _customer(store)
    consents = store.customer_docs[customer_id].consents
    assert {key: c.status for key, c in consents.items()} == {
        "marketing": "granted",
        "analytics": "denied",
    }
    history = await store.consent_history(customer_id)
    assert sorted(e.statement.purpose for e in history) == ["analytics", "marketing"]
    page = next(e for e in bus.published if e.type == "io.threadline.customer.event.page")
    assert page.data["consent"] == {"analytics": "denied", "marketing": "granted"}
    assert page.data["consentChannels"] == {}
    assert sorted(_changes(bus), key=lambda d: d["purpose"]) == [
        {
            "customerId": customer_id,
            "purpose": purpose,
            "channel": None,
            "status": status,
            "at": "2026-03-01T10:00:00.000Z",
            "source": "src00001",
            "causedBy": page.data["ingestId"],
            "previousStatus": None,
        }
        for purpose, status in (("analytics", "denied"), ("marketing", "granted"))
    ]
    changed = next(e for e in bus.published if e.type == CHANGED)
    assert changed.subject == changed.partitionkey == customer_id


async def test_preference_track_states_purposes_and_channels():
    store, bus = InMemoryProfileStore(), InMemoryBus()

    await _handle(
        store,
        bus,
        [
            _preferences("m1", 10, purpose="sale/sharing", status="revoked"),
            _preferences("m2", 11, channel="email", status="granted", source="preference_center"),
            _preferences(
                "m3", 12, categoryPreferences={"personalization": True}, channels={"sms": False}
            ),
        ],
    )

    consents = store.customer_docs[_customer(store)].consents
    assert {key: (c.purpose, c.channel, c.status) for key, c in consents.items()} == {
        "sale_sharing": ("sale_sharing", None, "revoked"),
        "channel:email": ("marketing", "email", "granted"),
        "personalization": ("personalization", None, "granted"),
        "channel:sms": ("marketing", "sms", "denied"),
    }
    assert consents["channel:email"].source == "preference_center"
    last = [e for e in bus.published if e.type == "io.threadline.customer.event.track"][-1]
    assert last.data["consent"] == {"personalization": "granted", "sale_sharing": "revoked"}
    assert last.data["consentChannels"] == {"email": "granted", "sms": "denied"}
    assert [(d["purpose"], d["channel"], d["status"]) for d in _changes(bus)] == [
        ("sale_sharing", None, "revoked"),
        ("marketing", "email", "granted"),
        ("personalization", None, "granted"),
        ("marketing", "sms", "denied"),
    ]


async def test_a_replayed_batch_publishes_no_change_again_and_keeps_history_once():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    batch = [_page("m1", 10, {"marketing": True})]

    await _handle(store, bus, batch)
    await _handle(store, bus, batch)

    assert len(_changes(bus)) == 1
    assert len(await store.consent_history(_customer(store))) == 1
    resolved = [e for e in bus.published if e.type == "io.threadline.customer.event.page"]
    assert [e.data["consent"] for e in resolved] == [{"marketing": "granted"}] * 2


async def test_a_late_older_statement_is_history_but_changes_nothing():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    await _handle(store, bus, [_page("m2", 12, {"marketing": False})])

    await _handle(store, bus, [_page("m1", 10, {"marketing": True})])

    customer_id = _customer(store)
    assert store.customer_docs[customer_id].consents["marketing"].status == "denied"
    assert [d["status"] for d in _changes(bus)] == ["denied"]
    history = await store.consent_history(customer_id)
    assert [e.statement.status for e in history] == ["granted", "denied"]  # by event time
    late = [e for e in bus.published if e.type == "io.threadline.customer.event.page"][-1]
    assert late.data["consent"] == {"marketing": "denied"}  # the state after it: still denied


async def test_restating_the_same_status_is_no_change():
    store, bus = InMemoryProfileStore(), InMemoryBus()

    await _handle(store, bus, [_page("m1", 10, {"marketing": True})])
    await _handle(store, bus, [_page("m2", 11, {"marketing": True})])
    await _handle(store, bus, [_page("m3", 12, {"marketing": False})])

    assert [(d["status"], d["previousStatus"]) for d in _changes(bus)] == [
        ("granted", None),
        ("denied", "granted"),
    ]
    assert store.customer_docs[_customer(store)].consents["marketing"].updated_at == datetime(
        2026, 3, 1, 12, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [(True, "granted"), (False, "denied"), ("Revoked", "revoked"), ("yes", None), (1, None)],
)
def test_statuses_are_booleans_or_their_names(given, expected):
    assert status_of(given) == expected


def test_purposes_are_compared_in_snake_case():
    assert canonical_purpose(" Sale/Sharing ") == "sale_sharing"
    assert canonical_purpose("Personalization") == "personalization"


async def test_identify_traits_with_set_once_unset_and_strategies_through_the_handler():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    rules = TraitRules.of({"visits": "sum"})

    def identify(message_id: str, hour: int, traits: dict[str, Any]) -> CloudEvent:
        return segment("identify", message_id, userId="user-1", traits=traits, timestamp=at(hour))

    first = identify("m1", 10, {"plan": "free", "visits": 1, "$set_once": {"source": "ads"}})
    await _handle(store, bus, [first], rules)
    await _handle(
        store,
        bus,
        [identify("m3", 12, {"visits": 1, "$unset": ["plan"], "$set_once": {"source": "seo"}})],
        rules,
    )
    await _handle(store, bus, [identify("m2", 11, {"plan": "pro", "visits": 1})], rules)
    await _handle(store, bus, [first], rules)  # redelivered

    traits = store.customer_docs[_customer(store)].traits
    assert not traits["plan"].present  # the 12:00 unset is later than the 11:00 set
    assert traits["visits"].value == 3
    assert traits["source"].value == "ads"
    assert traits["source"].event_id == first.id


statements = st.lists(
    st.builds(
        ConsentState,
        purpose=st.sampled_from(["marketing", "analytics"]),
        status=st.sampled_from(["granted", "denied", "revoked"]),
        updated_at=st.integers(0, 3).map(lambda m: datetime(2026, 3, 1, 10, m, tzinfo=UTC)),
        source=st.just("s"),
        event_id=st.sampled_from(["e1", "e2", "e3"]),
        channel=st.sampled_from([None, "email"]),
    ),
    max_size=10,
)


@given(statements, st.randoms())
def test_consent_state_is_the_latest_statement_per_key_whatever_the_order(said, random):
    shuffled = list(said)
    random.shuffle(shuffled)

    state: dict[str, ConsentState] = {}
    for statement in shuffled:
        state, _ = merge_consents(state, [statement])

    latest: dict[str, ConsentState] = {}
    for statement in said:  # the oracle: the maximum (time, event id, status) per key
        if statement.key not in latest or statement.order() > latest[statement.key].order():
            latest[statement.key] = statement
    assert state == latest
    half = len(said) // 2
    assert fold_consents(
        merge_consents({}, said[:half])[0], merge_consents({}, said[half:])[0]
    ) == (latest)
