"""Data hygiene findings: duplicates the rules left, missing traits, timestamp anomalies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain.hygiene import (
    CustomerFacts,
    EventTimeAnomalies,
    EventTimes,
    HygienePolicy,
    missing_traits,
    normalized_name,
    reconcile,
    seen_anomalies,
    suspected_duplicates,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = HygienePolicy(required_traits=("email", "firstName"))
ADDRESS = {"street": "12 Hauptstraße", "postalCode": "10115", "city": "Berlin", "country": "DE"}


def facts(cid: str, *, seen: datetime = T0, ids: tuple[tuple[str, str], ...] = (), **traits: Any):
    return CustomerFacts(cid, traits, ids, first_seen=seen, last_seen=seen)


def test_same_name_and_phone_with_different_emails_is_a_suspected_duplicate() -> None:
    first = facts(
        "c-old",
        seen=T0 - timedelta(days=30),
        ids=(("user_id", "u1"), ("email", "ana@example.com"), ("phone", "+4915112345678")),
        firstName="Ana",
        lastName="Müller",
    )
    # The second account: the phone is a trait in national format (the rules refused to link
    # it, since it belongs to another user id), the name spelled differently.
    second = facts(
        "c-new",
        ids=(("user_id", "u2"), ("email", "ana77@example.org")),
        firstName=" ANA ",
        lastName="Muller",
        phone="0151 12345678",
        address={"country": "DE"},
    )
    stranger = facts("c-3", ids=(("phone", "+4915199999999"),), firstName="Ana", lastName="Müller")

    (finding,) = suspected_duplicates([second, first, stranger])

    assert finding.kind == "suspected_duplicate"
    assert finding.customer_ids == ("c-old", "c-new"), "oldest first: the survivor to merge into"
    assert finding.reason == "same name and phone number, different emails"
    assert "12345678" not in finding.reason


def test_same_name_and_postal_address_is_a_suspected_duplicate_and_reasons_combine() -> None:
    a = facts("a", firstName="Jo", lastName="Lee", address=ADDRESS, phone="+4930123456")
    b = facts(
        "b",
        seen=T0 + timedelta(days=1),
        firstName="jo",
        lastName="LEE",
        address={**ADDRESS, "street": "12  hauptstraße", "city": "berlin"},
        phone="+49 30 123456",
    )
    (finding,) = suspected_duplicates([a, b])
    assert finding.customer_ids == ("a", "b")
    assert finding.reason == "same name and phone number; same name and postal address"


def test_a_household_sharing_an_address_is_not_a_duplicate() -> None:
    a = facts("a", firstName="Jo", lastName="Lee", address=ADDRESS)
    b = facts("b", firstName="Sam", lastName="Lee", address=ADDRESS)
    assert suspected_duplicates([a, b]) == []


def test_customers_without_a_name_are_never_suspected() -> None:
    a = facts("a", phone="+4930123456")
    b = facts("b", phone="+4930123456")
    assert suspected_duplicates([a, b]) == []


NAMES = st.sampled_from(["Ana Lima", "ana lima", "Jo Lee", "Ana Lima "])
PHONES = st.sampled_from(["+4930123456", "+4930999999", "+14155550123"])
STREETS = st.sampled_from(["1 Main Street", "1 main street", "2 Oak Avenue"])


@st.composite
def customers(draw: st.DrawFn) -> list[CustomerFacts]:
    result = []
    for index in range(draw(st.integers(0, 7))):
        traits: dict[str, Any] = {}
        if draw(st.booleans()):
            traits["name"] = draw(NAMES)
        if draw(st.booleans()):
            traits["phone"] = draw(PHONES)
        if draw(st.booleans()):
            traits["address"] = {"street": draw(STREETS), "city": "X", "country": "US"}
        result.append(
            facts(f"c{index}", seen=T0 + timedelta(hours=draw(st.integers(0, 5))), **traits)
        )
    return result


@settings(max_examples=300, deadline=None)
@given(customers())
def test_suspected_pairs_are_exactly_those_a_pairwise_comparison_finds(
    population: list[CustomerFacts],
) -> None:
    def same(a: CustomerFacts, b: CustomerFacts) -> bool:
        name_a, name_b = a.traits.get("name"), b.traits.get("name")
        if name_a is None or name_b is None or name_a.lower().strip() != name_b.lower().strip():
            return False
        phone = a.traits.get("phone") is not None and a.traits.get("phone") == b.traits.get("phone")
        street_a = (a.traits.get("address") or {}).get("street")
        street_b = (b.traits.get("address") or {}).get("street")
        address = (
            street_a is not None and street_b is not None and street_a.lower() == street_b.lower()
        )
        return phone or address

    expected = {frozenset((a.id, b.id)) for a, b in combinations(population, 2) if same(a, b)}
    found = {
        frozenset(pair)
        for finding in suspected_duplicates(population)
        for pair in combinations(finding.customer_ids, 2)
    }
    assert found == expected
    for finding in suspected_duplicates(population):
        seen = [
            next(c.first_seen or T0 for c in population if c.id == cid)
            for cid in finding.customer_ids
        ]
        assert seen == sorted(seen)


def test_names_normalize_accents_case_and_spacing() -> None:
    assert normalized_name({"firstName": "  Chloé ", "lastName": "DUBOIS"}) == "chloe dubois"
    assert normalized_name({"first_name": "Léa", "last_name": "Petit"}) == "lea petit"
    assert normalized_name({"name": "Jo  Lee"}) == "jo lee"
    assert normalized_name({"firstName": "Jo"}) is None


def test_known_customers_missing_required_traits_are_reported_with_what_is_missing() -> None:
    known = facts("k", ids=(("user_id", "u1"),), first_name="Ana", email="")
    complete = facts("ok", ids=(("email", "a@example.com"),), email="a@example.com", firstName="A")
    anonymous = facts("anon", ids=(("anonymous_id", "x"),))
    never_identified = facts("bare")

    findings = missing_traits(
        [known, complete, anonymous, never_identified], POLICY.required_traits
    )

    assert [(f.customer_ids, f.reason) for f in findings] == [
        (("k",), "missing required traits: email")
    ]


def test_last_seen_before_first_seen_and_future_sightings_are_anomalies() -> None:
    backwards = CustomerFacts("b", {}, first_seen=T0, last_seen=T0 - timedelta(seconds=1))
    future = CustomerFacts("f", {}, first_seen=T0, last_seen=T0 + timedelta(hours=1))
    fine = CustomerFacts("ok", {}, first_seen=T0, last_seen=T0 + timedelta(minutes=9))

    findings = seen_anomalies([backwards, future, fine], now=T0, policy=POLICY)

    assert [(f.customer_ids, f.reason) for f in findings] == [
        (("b",), "lastSeen is before firstSeen"),
        (("f",), "seen in the future"),
    ]


def test_events_far_from_their_receipt_are_reported_per_customer_with_evidence() -> None:
    anomalies = EventTimeAnomalies(POLICY)
    received = T0
    for index in range(7):  # a device whose clock is a day ahead
        anomalies.add(EventTimes(f"e{index}", "c1", received + timedelta(days=1), received))
    anomalies.add(EventTimes("old", "c1", received - timedelta(days=91), received))
    anomalies.add(EventTimes("edge", "c2", received + timedelta(minutes=10), received))
    anomalies.add(EventTimes("late", "c2", received - timedelta(days=89), received))

    findings = anomalies.findings()

    assert anomalies.scanned == 10
    assert [(f.customer_ids, f.reason, f.event_count) for f in findings] == [
        (("c1",), "events timed more than 10 minutes after receipt (7 events)", 7),
        (("c1",), "events timed more than 90 days before receipt (1 event)", 1),
    ]
    future = next(f for f in findings if f.event_count == 7)
    assert len(future.event_ids) == 5
    assert set(future.event_ids) <= {f"e{i}" for i in range(7)}


def test_reconcile_reports_every_customer_level_kind() -> None:
    population = [
        facts("a", ids=(("user_id", "u1"),), firstName="Jo", lastName="Lee", phone="+4930123456"),
        facts("b", ids=(("user_id", "u2"),), firstName="Jo", lastName="Lee", phone="+4930123456"),
        CustomerFacts("c", {}, first_seen=T0, last_seen=T0 - timedelta(days=1)),
    ]
    kinds = sorted({f.kind for f in reconcile(population, T0, POLICY)})
    assert kinds == ["missing_traits", "suspected_duplicate", "timestamp_anomaly"]
