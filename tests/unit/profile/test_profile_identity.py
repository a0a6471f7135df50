from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain import InvalidIdentityError
from services.profile.domain.identity import (
    Identity,
    canonical_identity,
    identities_of,
    new_customer_id,
)

ANON = Identity("anonymous_id", "anon-1")
USER = Identity("user_id", "user-1")
EMAIL = Identity("email", "jo@example.com")
LOYALTY = Identity("loyalty_card", "L-77")


def test_new_customer_id_is_stable_for_the_same_event_and_differs_between_events():
    assert new_customer_id("evt-1") == new_customer_id("evt-1")
    assert new_customer_id("evt-1") != new_customer_id("evt-2")
    assert len(new_customer_id("evt-1")) == 32


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


def test_the_default_phone_region_is_a_region_phone_numbers_know(monkeypatch):
    from pydantic import ValidationError as SettingsError

    from shared.settings import Settings

    monkeypatch.setenv("THREADLINE_DEFAULT_PHONE_REGION", " de ")
    assert Settings().default_phone_region == "DE"
    monkeypatch.setenv("THREADLINE_DEFAULT_PHONE_REGION", "Germany")
    with pytest.raises(SettingsError, match="ISO 3166 alpha-2"):
        Settings()
