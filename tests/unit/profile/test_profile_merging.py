"""Folding merged customers and choosing what a split takes along: the pure part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain.consent import ConsentState
from services.profile.domain.customer import Customer
from services.profile.domain.identity import Identity
from services.profile.domain.merging import events_to_split, fold
from services.profile.domain.traits import TraitOp, TraitState

T0 = datetime(2026, 3, 1, tzinfo=UTC)

# Events as they are: one time, source and channel each (two share a time, so the event
# id breaks the tie); the value an event said of a trait is fixed by the two.
EVENTS = [
    ("e1", 0, "web", "web"),
    ("e2", 2, "crm", "store"),
    ("e3", 2, "web", "store"),
    ("e4", 5, "crm", "web"),
]


def said(name: str, event: tuple[str, int, str, str]) -> TraitOp:
    event_id, hours, source, channel = event
    value = None if event_id == "e4" else f"{name}@{event_id}"
    return TraitOp("set", value, T0 + timedelta(hours=hours), event_id, source, channel)


def trait_states(name: str) -> st.SearchStrategy[TraitState]:
    events = st.lists(st.sampled_from(EVENTS), min_size=1, max_size=3)
    return events.map(lambda chosen: TraitState.of([said(name, e) for e in chosen]))


customers = st.builds(
    Customer,
    id=st.sampled_from(["c1", "c2", "c3"]),
    traits=st.fixed_dictionaries(
        {}, optional={name: trait_states(name) for name in ("plan", "name", "city")}
    ),
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

    # The oracle: per trait, the value of its latest statement (event time, then event id
    # and kind), as applying every customer's events in event-time order would give.
    latest: dict[str, TraitOp] = {}
    for part in parts:
        for name, trait in part.traits.items():
            for op in trait.ops:
                if name not in latest or op.order() > latest[name].order():
                    latest[name] = op
    assert forward.traits == backward.traits
    assert {name: trait.value for name, trait in forward.traits.items()} == {
        name: op.value for name, op in latest.items()
    }
    assert forward.channels == frozenset().union(*(p.channels for p in parts))
    firsts = [p.first_seen for p in parts if p.first_seen is not None]
    assert forward.first_seen == (min(firsts) if firsts else None)
    assert fold(forward, parts[0]) == forward  # folding again changes nothing


# Consent statements as events make them: a key (purpose, or a channel given for marketing),
# a status, a time (two share one, so the event id breaks the tie) and a source.
consent_statements = st.builds(
    ConsentState,
    purpose=st.sampled_from(["analytics", "marketing", "sale_sharing"]),
    status=st.sampled_from(["granted", "denied", "revoked"]),
    updated_at=st.integers(0, 3).map(lambda h: T0 + timedelta(hours=h)),
    source=st.sampled_from(["web", "crm"]),
    event_id=st.sampled_from(["e1", "e2", "e3"]),
    channel=st.none() | st.sampled_from(["email", "sms"]),
)
consenting_customers = st.builds(
    Customer,
    id=st.sampled_from(["c1", "c2", "c3"]),
    consents=st.lists(consent_statements, max_size=4).map(
        lambda statements: {s.key: s for s in sorted(statements, key=ConsentState.order)}
    ),
)


@given(st.lists(consenting_customers, min_size=1, max_size=4))
def test_folding_keeps_each_consents_latest_statement_whatever_the_order_of_merges(parts):
    survivor = Customer(id="root")
    forward, backward = survivor, survivor
    for part in parts:
        forward = fold(forward, part)
    for part in reversed(parts):
        backward = fold(backward, part)

    # The oracle: per key (purpose, or channel), the statement latest in (event time, event
    # id, then the rest), over every statement any of the merged customers holds.
    latest: dict[str, ConsentState] = {}
    for part in parts:
        for statement in part.consents.values():
            if statement.key not in latest or statement.order() > latest[statement.key].order():
                latest[statement.key] = statement
    assert forward.consents == backward.consents == latest
    assert fold(forward, parts[-1]) == forward  # folding again changes nothing


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
