"""Canonical forms of single values (DESIGN.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.normalize import canonical
from shared.normalize.canonical import CanonicalError
from shared.normalize.currencies import ACTIVE_CODES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T07:30:00.123456-04:30", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01T12:00:00", "2024-05-01T12:00:00.000Z"),  # naive is UTC
        (1714564800000, "2024-05-01T12:00:00.000Z"),  # epoch milliseconds
        (1714564800123.0, "2024-05-01T12:00:00.123Z"),
    ],
)
def test_timestamps_become_rfc3339_utc(raw: object, expected: str) -> None:
    assert canonical.rfc3339(canonical.timestamp(raw)) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01T00:00:00Z", True, None, [], float("nan")])
def test_unparseable_timestamps_are_rejected(raw: object) -> None:
    with pytest.raises(CanonicalError):
        canonical.timestamp(raw)


def test_rfc3339_zero_pads_early_years() -> None:
    assert canonical.rfc3339(datetime(33, 1, 2, tzinfo=UTC)) == "0033-01-02T00:00:00.000Z"


moments = st.datetimes(
    min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(moments, moments)
def test_skew_correction_is_identity_when_sent_at_equals_original(
    received: datetime, client: datetime
) -> None:
    assert canonical.corrected_timestamp(received, client, client) == received


@given(moments, moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_skew_correction_keeps_the_client_measured_delay(
    received: datetime, original: datetime, delay: timedelta
) -> None:
    corrected = canonical.corrected_timestamp(received, original + delay, original)
    assert received - corrected == delay


def test_skew_correction_without_sent_at_trusts_the_client_and_without_time_uses_receipt() -> None:
    received = datetime(2024, 5, 1, tzinfo=UTC)
    original = datetime(2024, 4, 30, tzinfo=UTC)
    assert canonical.corrected_timestamp(received, None, original) == original
    assert canonical.corrected_timestamp(received, received, None) == received


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_formatted_timestamps_parse_back_to_the_same_millisecond(moment: datetime) -> None:
    text = canonical.rfc3339(moment)
    back = canonical.timestamp(text)
    assert back == moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
    assert canonical.rfc3339(back) == text


@pytest.mark.parametrize(("raw", "code"), [("eur", "EUR"), (" USD ", "USD"), ("jpy", "JPY")])
def test_currency_codes_are_upper_cased(raw: str, code: str) -> None:
    assert canonical.currency(raw) == code


@pytest.mark.parametrize("raw", ["EURO", "XXX", "XTS", "ABC", "", 978, None])
def test_unknown_currencies_are_rejected(raw: object) -> None:
    with pytest.raises(CanonicalError):
        canonical.currency(raw)


def test_the_embedded_currency_list_is_complete_enough() -> None:
    # Spot checks across the alphabet, including fund codes and recent additions.
    for code in ("AED", "CHF", "CLF", "GBP", "INR", "SLE", "VED", "XCG", "ZWG", "ZAR"):
        assert code in ACTIVE_CODES
    assert len(ACTIVE_CODES) > 170


@pytest.mark.parametrize(
    ("raw", "text"),
    [("12.50", "12.50"), (12.5, "12.5"), (12.1, "12.1"), (7, "7"), ("1e3", "1000"), (-3, "-3")],
)
def test_money_is_exact_decimal_text(raw: object, text: str) -> None:
    assert canonical.decimal_text(canonical.money(raw)) == text


@pytest.mark.parametrize(
    "raw", ["NaN", "inf", "-Infinity", float("nan"), float("inf"), "12,50", True, "1" * 40]
)
def test_money_rejects_non_finite_or_malformed_amounts(raw: object) -> None:
    with pytest.raises(CanonicalError):
        canonical.money(raw)


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12
    )
)
def test_money_text_round_trips_to_the_same_decimal(amount: Decimal) -> None:
    assert Decimal(canonical.decimal_text(canonical.money(str(amount)))) == amount


@pytest.mark.parametrize(
    ("raw", "address"),
    [(" Ada@Example.COM ", "ada@example.com"), ("a.b+c@sub.example.org", "a.b+c@sub.example.org")],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, address: str) -> None:
    assert canonical.email(raw) == address


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("jos\u00e9@example.com", "jos\u00e9@example.com"),  # composed é (NFC)
        ("jose\u0301@example.com", "jos\u00e9@example.com"),  # e + combining acute (NFD)
        ("ＡＤＡ@ｅｘａｍｐｌｅ.com", "ada@example.com"),  # full-width letters
        ("a\u200bda@example.com", "ada@example.com"),  # zero-width space
        ("\ufeffada@exam\u00adple.com\u200d", "ada@example.com"),  # BOM, soft hyphen, ZWJ
    ],
)
def test_one_address_in_any_unicode_form_is_one_email(raw: str, address: str) -> None:
    assert canonical.email(raw) == address


@given(st.emails())
def test_canonical_emails_are_a_fixed_point(raw: str) -> None:
    once = canonical.email(raw)
    assert canonical.email(once) == once


@pytest.mark.parametrize("raw", ["ada", "ada@", "@example.com", "ada@example", "a b@c.de", 5])
def test_malformed_emails_are_rejected(raw: object) -> None:
    with pytest.raises(CanonicalError):
        canonical.email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+49 30 1234567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_phones_become_e164(raw: str, region: str | None, e164: str) -> None:
    assert canonical.phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region"), [("030 1234567", None), ("+49 1", None), ("hello", "DE"), ("12", "US")]
)
def test_unreadable_phones_are_rejected(raw: str, region: str | None) -> None:
    with pytest.raises(CanonicalError):
        canonical.phone(raw, region)


regions = st.sampled_from(["DE", "US", "GB", "FR", "JP", "BR", "IN", "AU", "NL", "ZA"])
number_types = st.sampled_from(
    [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
)


@settings(deadline=None)  # phonenumbers' first parse per region loads its metadata
@given(regions, number_types)
def test_e164_round_trips_in_international_and_national_form(region: str, kind: int) -> None:
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert canonical.phone(e164, None) == e164
    assert canonical.phone(national, region) == e164
    assert canonical.phone(canonical.phone(national, region), None) == e164


@pytest.mark.parametrize(
    ("locale", "country", "region"),
    [("de-DE", None, "DE"), ("en_US", None, "US"), ("en", None, None), ("en-US", "fr", "FR")],
)
def test_phone_region_comes_from_country_trait_then_locale(
    locale: str, country: str | None, region: str | None
) -> None:
    assert canonical.region_of(locale, country) == region


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Order Completed", "order_completed"),
        ("productViewed", "product_viewed"),
        ("Product Added to Wishlist!", "product_added_to_wishlist"),
        ("HTTPRequest sent", "http_request_sent"),
        ("  checkout--started  ", "checkout_started"),
        ("step2Completed", "step2_completed"),
        ("Café Visited", "cafe_visited"),
        ("order_completed", "order_completed"),
    ],
)
def test_event_names_become_snake_case(name: str, key: str) -> None:
    assert canonical.snake_case(name) == key


@pytest.mark.parametrize("name", ["!!!", "   ", "日本"])
def test_event_names_without_letters_or_digits_are_rejected(name: str) -> None:
    with pytest.raises(CanonicalError):
        canonical.snake_case(name)


@given(st.text(max_size=60))
def test_snake_case_is_idempotent(name: str) -> None:
    try:
        key = canonical.snake_case(name)
    except CanonicalError:
        return
    assert canonical.snake_case(key) == key
    assert key == key.lower()
    assert "__" not in key
    assert not key.startswith("_")
    assert not key.endswith("_")


@pytest.mark.parametrize(
    ("declared", "library", "channel"),
    [
        ("store", "analytics-python", "store"),
        ("Call_Center", None, "call_center"),
        ("browser", None, "web"),
        ("server", "analytics.js", "other"),
        (None, "analytics.js", "web"),
        (None, "@segment/analytics-next", "web"),
        (None, "analytics-ios", "mobile_app"),
        (None, "com.segment.analytics.android", "mobile_app"),
        (None, "@segment/analytics-react-native", "mobile_app"),
        ("nonsense", "analytics-flutter", "mobile_app"),
        (None, "analytics-python", "other"),
        (None, "analytics-node", "other"),
        (None, "rudder-sdk-python", "other"),
        (None, None, "other"),
    ],
)
def test_channel_is_declared_or_inferred_from_the_library(
    declared: str | None, library: str | None, channel: str
) -> None:
    assert canonical.channel(declared, library) == channel


def test_a_malformed_declared_channel_still_lets_the_library_decide() -> None:
    assert canonical.channel(["web"], "analytics-ios") == "mobile_app"


def test_money_beyond_decimal128_precision_is_rejected() -> None:
    with pytest.raises(CanonicalError, match="34 significant digits"):
        canonical.money("-100000000000000000000000000000000.00")
