from __future__ import annotations

import pytest

from services.profile.domain.pii import is_pii, mask_identity, mask_trait, mask_traits


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
