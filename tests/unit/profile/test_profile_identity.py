from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain import InvalidIdentityError, UnresolvableEventError
from services.profile.domain.identity import (
    CustomerCreated,
    IdentitiesAttached,
    Identity,
    MergeDeferred,
    canonical_identity,
    identities_of,
    new_customer_id,
    resolve,
)

ANON = Identity("anonymous_id", "anon-1")
USER = Identity("user_id", "user-1")
EMAIL = Identity("email", "jo@example.com")
LOYALTY = Identity("loyalty_card", "L-77")


def test_unknown_identities_create_a_customer_owning_all_of_them():
    resolution = resolve("evt-1", [ANON, EMAIL], {})

    assert resolution.created
    assert resolution.customer_id == new_customer_id("evt-1")
    assert set(resolution.attached) == {ANON, EMAIL}
    assert resolution.events == (CustomerCreated(resolution.customer_id, (EMAIL, ANON)),)


def test_new_customer_id_is_stable_for_the_same_event_and_differs_between_events():
    assert new_customer_id("evt-1") == new_customer_id("evt-1")
    assert new_customer_id("evt-1") != new_customer_id("evt-2")
    assert len(new_customer_id("evt-1")) == 32


def test_known_identity_resolves_to_its_customer_without_changes():
    resolution = resolve("evt-2", [ANON], {ANON: "c1"})

    assert resolution.customer_id == "c1"
    assert not resolution.created
    assert resolution.attached == ()
    assert resolution.events == ()


def test_login_attaches_the_user_id_to_the_anonymous_browsers_customer():
    resolution = resolve("evt-3", [USER, ANON], {ANON: "anon-customer"})

    assert resolution.customer_id == "anon-customer"
    assert resolution.attached == (USER,)
    assert resolution.events == (IdentitiesAttached("anon-customer", (USER,)),)


def test_strongest_identity_decides_when_several_customers_match():
    owners = {ANON: "device-customer", USER: "known-customer"}

    resolution = resolve("evt-4", [ANON, USER, EMAIL], owners)

    assert resolution.customer_id == "known-customer"
    assert resolution.others == ("device-customer",)
    assert resolution.attached == (EMAIL,)
    assert MergeDeferred("known-customer", ("device-customer",)) in resolution.events


def test_email_outranks_external_ids_and_external_ids_outrank_anonymous_ids():
    assert resolve("e", [LOYALTY, EMAIL], {LOYALTY: "a", EMAIL: "b"}).customer_id == "b"
    assert resolve("e", [ANON, LOYALTY], {ANON: "a", LOYALTY: "b"}).customer_id == "b"


def test_reprocessing_the_creating_event_reports_the_same_creation():
    first = resolve("evt-5", [ANON, EMAIL], {})
    owners = {ANON: first.customer_id, EMAIL: first.customer_id}

    again = resolve("evt-5", [ANON, EMAIL], owners)

    assert again.customer_id == first.customer_id
    assert again.created
    assert again.events == first.events


def test_event_without_identities_cannot_be_resolved():
    with pytest.raises(UnresolvableEventError, match="userId or an anonymousId"):
        resolve("evt-6", [], {})


def test_identities_of_reads_ids_person_traits_and_external_ids_strongest_first():
    data = {
        "type": "identify",
        "userId": "user-1",
        "anonymousId": "anon-1",
        "traits": {"email": "jo@example.com"},
        "context": {"externalIds": [{"id": "L-77", "type": "loyalty_card"}]},
        "externalIds": [{"id": "L-77", "type": "loyalty_card", "collection": "users"}],
    }

    assert identities_of(data) == (USER, EMAIL, LOYALTY, ANON)


def test_identities_of_takes_context_traits_on_calls_other_than_identify():
    data = {
        "type": "track",
        "anonymousId": "anon-1",
        "traits": {"email": "not-a-person@example.com"},
        "context": {"traits": {"email": "Jo@Example.com", "phone": "+49 30 1234567"}},
    }

    assert identities_of(data) == (EMAIL, Identity("phone", "+49301234567"), ANON)


def test_alias_links_the_previous_id():
    data = {"type": "alias", "userId": "user-1", "previousId": "anon-9"}

    assert Identity("anonymous_id", "anon-9") in identities_of(data)


identity_strategy = st.builds(
    Identity,
    st.sampled_from(["user_id", "anonymous_id", "email", "phone", "loyalty_card"]),
    st.sampled_from(["a", "b", "c"]),
)


@given(
    st.lists(identity_strategy, min_size=1, max_size=6),
    st.dictionaries(identity_strategy, st.sampled_from(["c1", "c2", "c3"]), max_size=6),
)
def test_resolution_never_steals_an_owned_identity_and_ignores_input_order(identities, owners):
    resolution = resolve("evt", identities, owners)
    reversed_resolution = resolve("evt", list(reversed(identities)), owners)

    assert resolution == reversed_resolution
    assert not set(resolution.attached) & set(owners)
    assert set(resolution.attached) == set(identities) - set(owners)
    if any(identity in owners for identity in identities):
        assert resolution.customer_id in owners.values()


def _ingested_identities(message: dict[str, Any]) -> tuple[Identity, ...]:
    from shared.normalize import Receipt, normalize

    received = datetime(2026, 3, 1, tzinfo=UTC)
    return identities_of(normalize(message, Receipt(received_at=received, source="s")))


@given(
    st.emails(),
    st.sampled_from(["", " ", "\u200b", "\ufeff"]),
    st.sampled_from([str.lower, str.upper, str.title]),
)
def test_an_email_found_by_ingestion_is_found_by_a_query_for_it_as_typed(email, noise, case):
    typed = noise + case(email) + noise
    stored = _ingested_identities({"type": "identify", "userId": "u", "traits": {"email": typed}})

    assert canonical_identity("email", typed) in stored


@pytest.mark.parametrize(
    "typed",
    ["+49 30 1234567", "+49-30-1234567", "+49 (30) 123 4567", "+49301234567", "030 1234567"],
)
def test_a_phone_found_by_ingestion_is_found_by_a_query_in_any_international_format(typed):
    stored = _ingested_identities(
        {"type": "identify", "userId": "u", "traits": {"phone": typed, "country": "DE"}}
    )

    assert Identity("phone", "+49301234567") in stored
    assert canonical_identity("phone", "+49 30 1234567") in stored


def test_a_national_phone_number_without_a_region_is_refused_saying_how_to_fix_it():
    with pytest.raises(InvalidIdentityError, match=r"\+country prefix"):
        canonical_identity("phone", "030 1234567")


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("userId", "U-1", Identity("user_id", "U-1")),
        ("anonymousId", "a-1", Identity("anonymous_id", "a-1")),
        ("loyalty_id", "L-77", Identity("loyalty_id", "L-77")),
        ("ios.idfa", "AB-CD", Identity("ios.idfa", "AB-CD")),
    ],
)
def test_id_types_take_their_design_names_and_keep_values_as_sent(kind, value, expected):
    assert canonical_identity(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("email", "not an address", "is not an email address"),
        ("user_id", "", "non-empty"),
        ("user_id", "x" * 513, "at most 512"),
        ("", "v", "type is required"),
    ],
)
def test_values_that_are_no_identity_are_refused_naming_the_problem(kind, value, problem):
    with pytest.raises(InvalidIdentityError, match=problem):
        canonical_identity(kind, value)
