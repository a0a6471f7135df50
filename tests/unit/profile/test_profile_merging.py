"""Folding merged customers and choosing what a split takes along: the pure part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity
from services.profile.domain.merging import events_to_split, fold
from services.profile.domain.traits import TraitValue

T0 = datetime(2026, 3, 1, tzinfo=UTC)

trait_values = st.builds(
    TraitValue,
    value=st.sampled_from(["a", "b", 1, None]),
    source=st.sampled_from(["web", "crm"]),
    channel=st.sampled_from(["web", "store"]),
    updated_at=st.integers(0, 5).map(lambda h: T0 + timedelta(hours=h)),
)
customers = st.builds(
    Customer,
    id=st.sampled_from(["c1", "c2", "c3"]),
    traits=st.dictionaries(st.sampled_from(["plan", "name", "city"]), trait_values, max_size=3),
    channels=st.frozensets(st.sampled_from(["web", "store", "call_center"])),
    first_seen=st.none() | st.integers(0, 5).map(lambda h: T0 + timedelta(hours=h)),
)


@given(st.lists(customers, min_size=1, max_size=4))
def test_folding_keeps_each_traits_latest_value_whatever_the_order_of_merges(parts):
    survivor = Customer(id="root")
    forward, backward = survivor, survivor
    for part in parts:
        forward = fold(forward, part)
    for part in reversed(parts):
        backward = fold(backward, part)

    # The oracle: per trait, the greatest value by (event time, source, channel, value).
    expected: dict[str, TraitValue] = {}
    for part in parts:
        for name, trait in part.traits.items():
            if name not in expected or trait.order_key() > expected[name].order_key():
                expected[name] = trait
    assert forward.traits == backward.traits == expected
    assert forward.channels == frozenset().union(*(p.channels for p in parts))
    firsts = [p.first_seen for p in parts if p.first_seen is not None]
    assert forward.first_seen == (min(firsts) if firsts else None)
    assert fold(forward, parts[0]) == forward  # folding again changes nothing


def test_a_split_takes_the_events_of_the_leaving_identifiers_and_their_own_session_ids():
    phone, email = Identity("phone", "+4930"), Identity("email", "jo@example.org")
    call, web = Identity("anonymous_id", "call-1"), Identity("anonymous_id", "web-1")
    events = [
        ("browse", [web]),
        ("login", [web, email]),
        ("call", [call, phone]),
        ("store", [email, phone]),
    ]

    moved, along = events_to_split(events, [phone], [email, call, web])

    assert moved == ["call"]
    assert along == [call]
