from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis.strategies import emails, sampled_from, text

from services.profile.domain.pii import PiiPolicy, is_pii, mask_identity, mask_trait, mask_traits
from shared.settings import Settings


@pytest.mark.parametrize(
    ("name", "value", "masked"),
    [
        ("email", "jo@example.com", "j***@example.com"),
        ("phone", "+447911123489", "+44********89"),
        ("firstName", "Jo", "J***"),
        ("last_name", "Bloggs", "B***"),
        ("name", "Jo Bloggs", "J***"),
        ("address", {"city": "Leeds", "street": "1 Road"}, "***"),
        ("birthday", "1990-04-01", "***"),
        ("plan", "pro", "pro"),
        ("email", None, None),
    ],
)
def test_traits_are_masked_by_kind(name, value, masked):
    assert mask_trait(name, value) == masked


def test_trait_names_are_recognised_in_any_spelling():
    assert is_pii("First Name")
    assert is_pii("first_name")
    assert is_pii("firstName")
    assert not is_pii("plan")


def test_masking_keeps_non_pii_traits_and_every_key():
    traits = {"email": "jo@example.com", "plan": "pro", "ltv": 120}

    assert mask_traits(traits) == {"email": "j***@example.com", "plan": "pro", "ltv": 120}


def test_email_without_at_sign_and_short_phone_are_hidden_entirely():
    assert mask_trait("email", "not-an-email") == "***"
    assert mask_trait("phone", "123") == "***"


def test_identities_of_pii_types_are_masked_and_others_kept():
    assert mask_identity("email", "jo@example.com") == "j***@example.com"
    assert mask_identity("phone", "+447911123489").startswith("+44")
    assert mask_identity("user_id", "user-1") == "user-1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("workEmail", "jo@example.com"),
        ("mobileNumber", "+447911123489"),
        ("telephone", "+447911123489"),
        ("cell", "07911 123489"),
        ("surname", "Bloggs"),
        ("social_security_number", "078-05-1120"),
        ("creditCard", "4111 1111 1111 1111"),
        ("home-address", "1 Road, Leeds"),
        ("dateOfBirth", "1990-04-01"),
        ("passportNo", "X1234567"),
        ("iban", "DE89370400440532013000"),
        ("lastLoginIp", "203.0.113.9"),
    ],
)
def test_pii_traits_are_recognised_by_name_in_any_spelling(name, value):
    assert is_pii(name)
    masked = mask_trait(name, value)
    assert masked != value
    assert value not in str(masked)


@pytest.mark.parametrize(
    ("name", "value", "masked"),
    [
        ("contactInfo", "jo@example.com", "j***@example.com"),
        ("note", "+447911123489", "+44********89"),
        ("payment", "4111111111111111", "***1111"),
        ("account", "GB82 WEST 1234 5698 7654 32", "***"),
        ("seenFrom", "2001:db8::1", "***"),
        ("seenFrom", "203.0.113.9", "***"),
    ],
)
def test_pii_values_are_recognised_by_shape_under_any_name(name, value, masked):
    assert mask_trait(name, value) == masked


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("plan", "pro"),
        ("orderId", "100234567"),
        ("signupDate", "2024-05-01"),
        ("ltv", 120),
        ("card", None),
        ("emailOptIn", True),
        ("productName", "Blue Shoes"),
        ("reference", "4111111111111112"),
    ],
)
def test_ordinary_values_pass_through(name, value):
    assert mask_trait(name, value) == value


def test_nested_values_and_lists_are_masked_by_their_own_names_and_shapes():
    traits = {
        "contact": {"email": "jo@example.com", "preferred": "email", "phones": ["+447911123489"]},
        "history": [{"note": "wrote from jo@example.com"}, {"plan": "pro"}],
        "address": {"city": "Leeds", "street": "1 Road"},
    }

    assert mask_traits(traits) == {
        "contact": {"email": "j***@example.com", "preferred": "email", "phones": ["+44********89"]},
        "history": [{"note": "wrote from j***@example.com"}, {"plan": "pro"}],
        "address": "***",
    }


def test_configured_trait_names_are_masked_too():
    policy = PiiPolicy.of(["loyaltyTier", "favourite_store"])

    assert policy.mask_traits(
        {"loyalty_tier": "gold", "favouriteStore": "Leeds", "plan": "pro"}
    ) == {
        "loyalty_tier": "***",
        "favouriteStore": "***",
        "plan": "pro",
    }
    assert policy.is_pii("LoyaltyTier")
    assert not PiiPolicy().is_pii("loyaltyTier")


def test_identities_are_masked_by_type_and_by_value_shape():
    assert mask_identity("user_id", "jo@example.com") == "j***@example.com"
    assert mask_identity("user_id", "+447911123489") == "+44********89"
    assert mask_identity("user_id", "user-1") == "user-1"
    assert mask_identity("anonymous_id", "7c0f2a4e-9d31-4b44-8f2e-2d1c9f0a6b11") == (
        "7c0f2a4e-9d31-4b44-8f2e-2d1c9f0a6b11"
    )
    assert mask_identity("passport", "X1234567") == "***"


def test_pii_trait_names_are_read_from_settings_as_a_comma_separated_list():
    settings = Settings(pii_traits="loyaltyTier, favourite_store")

    assert PiiPolicy.of(settings.pii_traits) == PiiPolicy.of(["loyalty_tier", "favouriteStore"])


@given(email=emails(), name=sampled_from(["note", "contactInfo", "userRef", "x"]))
def test_any_email_under_any_name_is_masked_to_its_first_letter_and_domain(email, name):
    local, _, domain = email.partition("@")

    assert mask_trait(name, email) == f"{local[:1]}***@{domain}"


@given(
    first=sampled_from("123456789"),
    rest=text(alphabet="0123456789", min_size=11, max_size=17),
)
def test_any_card_number_passing_luhn_is_masked_to_its_last_four_digits(first, rest):
    number = first + rest + str(luhn_check_digit(first + rest))

    assert mask_trait("payment", number) == "***" + number[-4:]
    assert mask_trait("payment", int(number)) == "***" + number[-4:]


def luhn_check_digit(payload: str) -> int:
    """The digit that makes ``payload + digit`` pass the Luhn check (the brute-force oracle)."""
    return next(d for d in range(10) if luhn_valid(payload + str(d)))


def luhn_valid(number: str) -> bool:
    doubled = [int(c) * (2 if i % 2 else 1) for i, c in enumerate(reversed(number))]
    return sum(d // 10 + d % 10 for d in doubled) % 10 == 0


def test_configured_trait_names_are_masked_inside_nested_values_and_lists():
    policy = PiiPolicy.of(["loyaltyTier"])

    assert policy.mask_traits(
        {"membership": {"loyalty_tier": "gold", "since": 2020}, "cards": [{"LoyaltyTier": "x"}]}
    ) == {"membership": {"loyalty_tier": "***", "since": 2020}, "cards": [{"LoyaltyTier": "***"}]}


def test_what_a_store_may_keep_leaves_out_pii_by_name_at_any_depth_and_by_shape():
    policy = PiiPolicy.of(["loyaltyTier"])

    kept = policy.without_pii(
        {
            "plan": "pro",
            "loyaltyTier": "gold",
            "prefs": {"workEmail": "jo@example.com", "theme": "dark", "memo": "+49 30 1234567"},
            "note": "ring jo@example.com",
            "count": 3,
        }
    )

    assert kept == {"plan": "pro", "prefs": {"theme": "dark"}, "count": 3}
