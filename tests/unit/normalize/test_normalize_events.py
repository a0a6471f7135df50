"""Segment messages become normalized events; every offending field is named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.api.segment import MESSAGE_MODELS
from services.profile.domain.identity import Identity, identities_of
from shared.errors import ValidationError
from shared.normalize import Receipt, message_id_of, normalize, source_id
from shared.normalize.canonical import rfc3339

RECEIVED = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC)
RECEIPT = Receipt(received_at=RECEIVED, source="src12345")


def track(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": "m-1",
        "userId": "u-1",
        "event": "Order Completed",
        "timestamp": "2024-05-01T12:00:00Z",
        **fields,
    }


def problems(message: Any, receipt: Receipt = RECEIPT, **options: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        normalize(message, receipt, **options)
    return caught.value.problems


def test_order_completed_is_normalized_with_money_identities_and_channel() -> None:
    event = normalize(
        track(
            properties={"order_id": "o-1", "revenue": "12.50", "currency": "eur"},
            context={
                "library": {"name": "analytics-python", "version": "2.4.0"},
                "traits": {"email": " Ada@Example.com "},
                "externalIds": [
                    {"id": "L-77", "type": "loyalty_id", "collection": "users", "encoding": "none"}
                ],
                "consent": {"categoryPreferences": {"advertising": False}},
            },
        ),
        RECEIPT,
    )
    assert event["type"] == "track"
    assert event["event"] == "order_completed"
    assert event["eventName"] == "Order Completed"
    assert event["properties"] == {"order_id": "o-1", "revenue": "12.50", "currency": "EUR"}
    assert event["money"] == {"revenue": "12.50", "currency": "EUR"}
    assert event["channel"] == "other"
    assert event["consent"] == {"categoryPreferences": {"advertising": False}}
    assert event["context"]["traits"] == {"email": "ada@example.com"}
    assert event["externalIds"] == [
        {"id": "L-77", "type": "loyalty_id", "collection": "users", "encoding": "none"}
    ]
    assert identities_of(event) == (
        Identity("user_id", "u-1"),
        Identity("email", "ada@example.com"),
        Identity("loyalty_id", "L-77"),
    )
    assert event["source"] == "src12345"
    assert event["receivedAt"] == "2024-05-01T12:00:10.000Z"
    assert "writeKey" not in event


def test_clock_skew_is_corrected_from_sent_at() -> None:
    # The client's clock is an hour fast: it recorded at 13:00:00 and sent at 13:00:04.
    event = normalize(
        track(timestamp="2024-05-01T15:00:00+02:00", sentAt="2024-05-01T13:00:04Z"), RECEIPT
    )
    assert event["originalTimestamp"] == "2024-05-01T13:00:00.000Z"
    assert event["sentAt"] == "2024-05-01T13:00:04.000Z"
    assert event["timestamp"] == "2024-05-01T12:00:06.000Z"


def test_batch_sent_at_applies_when_the_message_has_none() -> None:
    receipt = Receipt(received_at=RECEIVED, source="s", sent_at=1714568404000)
    event = normalize(track(timestamp="2024-05-01T13:00:00Z"), receipt)
    assert event["timestamp"] == "2024-05-01T12:00:06.000Z"


def test_message_without_timestamps_happens_when_received() -> None:
    message = track()
    del message["timestamp"]
    event = normalize(message, RECEIPT)
    assert event["timestamp"] == event["receivedAt"] == "2024-05-01T12:00:10.000Z"
    assert event["originalTimestamp"] is None


def test_identify_normalizes_traits_phone_with_country_and_email() -> None:
    event = normalize(
        {
            "type": "identify",
            "anonymousId": "a-1",
            "userId": "u-1",
            "traits": {"email": "BOB@EXAMPLE.DE", "phone": "030 1234567", "country": "DE"},
            "context": {"library": {"name": "analytics.js"}},
        },
        RECEIPT,
    )
    assert event["traits"]["phone"] == "+49301234567"
    assert event["traits"]["email"] == "bob@example.de"
    assert event["channel"] == "web"
    assert Identity("phone", "+49301234567") in identities_of(event)
    assert Identity("anonymous_id", "a-1") in identities_of(event)


def test_a_national_phone_is_read_in_the_default_region_when_the_event_names_none() -> None:
    message = {"type": "identify", "userId": "u", "traits": {"phone": "030 1234567"}}
    german = Receipt(received_at=RECEIVED, source="src12345", default_region="DE")

    assert normalize(message, german)["traits"]["phone"] == "+49301234567"
    assert "no +country prefix" in problems(message)["traits.phone"]
    # The event's own country or locale still wins over the deployment's default.
    british = {**message, "traits": {"phone": "020 7946 0018"}, "context": {"locale": "en-GB"}}
    assert normalize(british, german)["traits"]["phone"] == "+442079460018"


def test_phone_region_comes_from_the_locale() -> None:
    event = normalize(
        {
            "type": "identify",
            "userId": "u",
            "traits": {"phone": "(415) 555-2671"},
            "context": {"locale": "en-US"},
        },
        RECEIPT,
    )
    assert event["traits"]["phone"] == "+14155552671"


def test_every_offending_field_is_named_with_its_path() -> None:
    found = problems(
        {
            "type": "track",
            "event": "",
            "timestamp": "not a time",
            "properties": {"revenue": "NaN", "currency": "EURO", "products": [{"price": "x"}]},
            "context": {
                "traits": {"email": "nope", "phone": "12345"},
                "externalIds": [{"id": "", "type": "loyalty_id"}, "bad"],
                "consent": "yes",
            },
        },
        path="batch[3].",
    )
    assert found == {
        "batch[3].userId": "either userId or anonymousId is required",
        "batch[3].event": "track needs an event name such as 'Order Completed'",
        "batch[3].timestamp": found["batch[3].timestamp"],
        "batch[3].context.traits.email": found["batch[3].context.traits.email"],
        "batch[3].context.traits.phone": found["batch[3].context.traits.phone"],
        "batch[3].properties.revenue": "must be a finite amount, not NaN or infinity",
        "batch[3].properties.products[0].price": "'x' is not a decimal number",
        "batch[3].properties.currency": ("'EURO' is not an ISO 4217 currency code (e.g. EUR, USD)"),
        "batch[3].context.externalIds[0].id": "must be a non-empty string",
        "batch[3].context.externalIds[1]": "must be an object {id, type, collection, encoding}",
        "batch[3].context.consent": "must be a JSON object (e.g. categoryPreferences)",
    }
    assert "not an ISO 8601 timestamp" in found["batch[3].timestamp"]
    assert "no +country prefix" in found["batch[3].context.traits.phone"]


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ({"type": "alias", "anonymousId": "a"}, {"previousId", "userId"}),
        ({"type": "group", "userId": "u"}, {"groupId"}),
        ({"type": "page", "name": 5, "anonymousId": "a"}, {"name"}),
        ({"type": "identify", "userId": {"id": 1}}, {"userId"}),
        ({"type": "identify", "userId": "u", "traits": []}, {"traits"}),
        ({"type": "screen", "userId": "u", "context": "ios"}, {"context"}),
        ({"type": "nonsense", "userId": "u", "event": "x"}, {"type"}),
    ],
)
def test_required_fields_per_type(message: dict[str, Any], fields: set[str]) -> None:
    assert set(problems(message)) == fields


def test_endpoint_kind_overrides_a_missing_type() -> None:
    event = normalize({"userId": "u", "name": "Home"}, RECEIPT, kind="page")
    assert (event["type"], event["name"], event["event"]) == ("page", "Home", None)


def test_alias_and_group_keep_their_ids() -> None:
    alias = normalize({"type": "alias", "userId": "u", "previousId": "a"}, RECEIPT)
    group = normalize({"type": "group", "userId": "u", "groupId": 42}, RECEIPT)
    assert alias["previousId"] == "a"
    assert group["groupId"] == "42"


def test_money_without_currency_defaults_to_usd_like_segment() -> None:
    event = normalize(track(properties={"total": 10, "value": 2.5}), RECEIPT)
    assert event["money"] == {"total": "10", "value": "2.5", "currency": "USD"}


def test_product_prices_become_decimal_text() -> None:
    event = normalize(
        track(properties={"products": [{"sku": "a", "price": 3.1}, {"sku": "b"}]}), RECEIPT
    )
    assert event["properties"]["products"] == [{"sku": "a", "price": "3.1"}, {"sku": "b"}]
    assert event["money"] is None


def test_batch_context_is_merged_under_the_message_context() -> None:
    receipt = Receipt(
        received_at=RECEIVED, source="s", context={"channel": "store", "locale": "de-DE"}
    )
    event = normalize(track(context={"locale": "fr-FR"}), receipt)
    assert event["context"] == {"channel": "store", "locale": "fr-FR"}
    assert event["channel"] == "store"


def test_missing_message_id_is_derived_from_content_ignoring_sent_at() -> None:
    first = track(sentAt="2024-05-01T12:00:00Z")
    retry = track(sentAt="2024-05-01T12:05:00Z")
    other = track(event="Order Refunded")
    for message in (first, retry, other):
        del message["messageId"]
    assert message_id_of(first) == message_id_of(retry)
    assert message_id_of(first) != message_id_of(other)
    assert normalize(first, RECEIPT)["messageId"] == message_id_of(first)


def test_normalization_does_not_mutate_its_input() -> None:
    message = track(
        properties={"revenue": 1.5, "currency": "eur"},
        context={"traits": {"email": "A@B.CO"}},
    )
    snapshot = repr(message)
    normalize(message, RECEIPT)
    assert repr(message) == snapshot


def test_non_object_message_is_rejected_at_its_path() -> None:
    assert problems(["not", "an", "object"], path="batch[0].") == {
        "batch[0]": "must be a JSON object"
    }


def test_source_id_is_a_short_stable_digest() -> None:
    assert source_id("secret-key") == source_id("secret-key")
    assert len(source_id("secret-key")) == 8
    assert "secret" not in source_id("secret-key")


names = st.sampled_from(["Order Completed", "Product Viewed", "Survey Answered", "signedUp"])
ids = st.text(min_size=1, max_size=20).filter(str.strip)


@given(kind=st.sampled_from(sorted(MESSAGE_MODELS)), user=ids, event=names, group=ids)
def test_messages_the_segment_models_accept_normalize(
    kind: str, user: str, event: str, group: str
) -> None:
    message = {"type": kind, "userId": user, "event": event, "groupId": group, "previousId": user}
    MESSAGE_MODELS[kind].model_validate(message)
    normalized = normalize(message, RECEIPT)
    assert normalized["type"] == kind
    assert Identity("user_id", user) in identities_of(normalized)


def test_rudderstack_identify_traits_in_context_and_root_channel_are_understood() -> None:
    event = normalize(
        {
            "type": "identify",
            "anonymousId": "a-1",
            "channel": "web",
            "context": {"traits": {"email": "LIN@Example.org", "phone": "+44 20 7946 0958"}},
        },
        RECEIPT,
    )
    assert event["context"]["traits"]["email"] == "lin@example.org"
    assert event["channel"] == "web"
    assert identities_of(event) == (
        Identity("email", "lin@example.org"),
        Identity("phone", "+442079460958"),
        Identity("anonymous_id", "a-1"),
    )


def test_the_same_email_in_both_trait_places_is_one_identity() -> None:
    event = normalize(
        {
            "type": "identify",
            "userId": "u",
            "traits": {"email": "a@b.co"},
            "context": {"traits": {"email": "A@B.CO"}},
        },
        RECEIPT,
    )
    assert [i for i in identities_of(event) if i.type == "email"] == [Identity("email", "a@b.co")]


@pytest.mark.parametrize("message_id", [{"id": 1}, ["m"], True, 1.5])
def test_a_message_id_that_is_not_a_string_is_named(message_id: object) -> None:
    assert set(problems(track(messageId=message_id))) == {"messageId"}


def test_a_null_message_sent_at_falls_back_to_the_batch_sent_at() -> None:
    receipt = Receipt(received_at=RECEIVED, source="s", sent_at="2024-05-01T13:00:04Z")
    event = normalize(track(timestamp="2024-05-01T13:00:00Z", sentAt=None), receipt)
    assert event["timestamp"] == "2024-05-01T12:00:06.000Z"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
segment_keys = st.sampled_from(
    [
        "type", "messageId", "userId", "anonymousId", "previousId", "groupId", "event", "name",
        "timestamp", "originalTimestamp", "sentAt", "context", "traits", "properties", "channel",
    ]
)  # fmt: skip
context_values = st.fixed_dictionaries(
    {},
    optional={
        "traits": st.dictionaries(st.sampled_from(["email", "phone", "country"]), json_values),
        "externalIds": json_values,
        "consent": json_values,
        "library": json_values,
        "locale": json_values,
        "channel": json_values,
    },
)
property_values = st.dictionaries(
    st.sampled_from(["revenue", "total", "value", "price", "currency", "products"]), json_values
)


@settings(deadline=None, max_examples=300)
@given(
    base=st.dictionaries(segment_keys, json_values, max_size=8),
    context=context_values,
    properties=property_values,
)
def test_any_json_message_either_normalizes_or_names_its_problems(
    base: dict[str, Any], context: dict[str, Any], properties: dict[str, Any]
) -> None:
    message = {**base, "context": context, "properties": properties}
    try:
        event = normalize(message, RECEIPT)
    except ValidationError as exc:
        found = exc.problems
    else:
        found = {}
    if found:
        assert all(isinstance(reason, str) and reason for reason in found.values())
        return
    orjson.dumps(event)  # what the collector publishes must serialize
    assert event["type"] in {"identify", "track", "page", "screen", "group", "alias"}
    assert identities_of(event)


@settings(max_examples=200, deadline=None)
@given(
    # The accepted range of event times (EARLIEST_EVENT_TIME to a day after receipt).
    moment=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2024, 5, 2), timezones=st.just(UTC)
    ),
    form=st.sampled_from(["canonical", "seconds", "offset", "micro", "naive"]),
    batch_sent_at=st.booleans(),
)
def test_timestamp_texts_equal_formatting_the_parsed_times(
    moment: datetime, form: str, batch_sent_at: bool
) -> None:
    """Reusing already-canonical text is an optimisation only: same result as formatting."""
    text = {
        "canonical": moment.isoformat(timespec="milliseconds")[:-6] + "Z",
        "seconds": moment.isoformat(timespec="seconds")[:-6] + "Z",
        "offset": moment.isoformat(),
        "micro": moment.isoformat(timespec="microseconds")[:-6] + "Z",
        "naive": moment.replace(tzinfo=None).isoformat(),
    }[form]
    sent = "2024-05-01T12:00:04Z" if batch_sent_at else None
    receipt = Receipt(received_at=RECEIVED, source="src", sent_at=sent)
    event = normalize(track(timestamp=text), receipt)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    assert event["originalTimestamp"] == rfc3339(parsed)
    expected = parsed
    if sent is not None:
        try:
            expected = RECEIVED - (datetime(2024, 5, 1, 12, 0, 4, tzinfo=UTC) - parsed)
        except OverflowError:  # far-off times keep the client's timestamp
            expected = parsed
    assert event["timestamp"] == rfc3339(expected)
    assert event["receivedAt"] == rfc3339(RECEIVED)


def test_an_invalid_batch_sent_at_is_reported_on_every_message_without_its_own() -> None:
    receipt = Receipt(received_at=RECEIVED, source="src", sent_at="yesterday")
    assert "sentAt" in problems(track(), receipt)
    own = normalize(track(sentAt="2024-05-01T12:00:04Z"), receipt)
    assert own["sentAt"] == "2024-05-01T12:00:04.000Z"
