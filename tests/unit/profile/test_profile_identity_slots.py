"""Limit slots: which attachments claim one, and at which ordinal."""

from __future__ import annotations

import pytest

from services.profile.adapters.in_memory import InMemoryProfileStore
from services.profile.adapters.ports import IdentityConflictError
from services.profile.domain.identity import Identity
from services.profile.domain.identity_slots import merge_slots, slots_for, slotted_types
from services.profile.domain.resolution_rules import DEFAULT_RULES, ResolutionRules
from services.profile.handlers import handle_ingested
from shared.bus.in_memory import InMemoryBus
from tests.unit.profile.profile_events import at, segment

RULES = ResolutionRules.of(limits={"user_id": "1", "email": "3", "anonymous_id": "5/7d"})


def test_only_limits_without_a_window_take_slots():
    assert slotted_types(RULES) == {"user_id", "email"}
    assert slotted_types(DEFAULT_RULES) == {"user_id"}


def test_unlimited_and_windowed_attachments_claim_nothing():
    attached = [Identity("anonymous_id", "a2"), Identity("phone", "+4930123")]
    assert slots_for(RULES, "c1", [Identity("anonymous_id", "a1")], attached, "e1") == []


def test_ordinals_count_what_the_customer_holds_then_what_the_event_attaches():
    held = [Identity("email", "a@x.io"), Identity("anonymous_id", "k1")]
    attached = [Identity("user_id", "u1"), Identity("email", "b@x.io"), Identity("email", "c@x.io")]

    slots = slots_for(RULES, "c1", held, attached, "e1")

    assert [(s.key, s.identity) for s in slots] == [
        ("c1|user_id|0", attached[0]),
        ("c1|email|1", attached[1]),
        ("c1|email|2", attached[2]),
    ]
    again = slots_for(RULES, "c1", [*held, attached[0]], attached, "e1")
    assert again == slots, "a replay (the attached already held) claims the same slots"
    assert slots_for(RULES, "c1", held, attached, "e2")[0].holder != slots[0].holder


async def test_in_memory_twin_refuses_a_slot_another_holder_took():
    store, bus = InMemoryProfileStore(), InMemoryBus()
    email = "jo@example.com"
    await handle_ingested(
        [segment("identify", "seen", anonymousId="k1", traits={"email": email}, timestamp=at(9))],
        store=store,
        publisher=bus,
    )
    [customer_id] = set(store.customer_docs)
    store.slot_holders[f"{customer_id}|user_id|0"] = "a concurrent batch"
    login = segment(
        "identify",
        "login",
        anonymousId="k1",
        userId="u1",
        traits={"email": email},
        timestamp=at(10),
    )

    with pytest.raises(IdentityConflictError):
        await handle_ingested([login], store=store, publisher=bus)

    assert Identity("user_id", "u1") not in store.identity_docs


def test_a_merge_seals_each_loser_and_places_its_limited_identifiers_after_the_survivors():
    u1, u2, e1 = Identity("user_id", "u1"), Identity("user_id", "u2"), Identity("email", "a@x.io")
    held = {"s": [e1, Identity("anonymous_id", "k1")], "l": [u2, e1], "m": [u1]}
    rules = ResolutionRules.of(limits={"user_id": "2", "email": "3"})

    slots = merge_slots(rules, "s", held, "e9")

    assert sorted((s.key, s.identity) for s in slots) == [
        ("l|email|1", None),  # L holds one email: a link deciding on L takes place 1
        ("l|user_id|1", None),
        ("m|email|0", None),
        ("m|user_id|1", None),
        ("s|user_id|0", u2),  # the survivor had no user_id: L's and M's come after
        ("s|user_id|1", u1),
    ]
    assert merge_slots(DEFAULT_RULES, "s", {"s": [], "l": []}, "e9")[0].key == "l|user_id|0"
