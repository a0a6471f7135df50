from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.journey.domain import InvalidCursorError, JourneyError
from services.journey.domain.timeline import MAX_PAGE, Position, decode_cursor, page_size
from services.journey.domain.touchpoints import touchpoint_of
from tests.support.resolved_events import at, resolved


def test_track_event_becomes_a_touchpoint_at_event_time():
    event = resolved(
        "track",
        "m1",
        "c1",
        event="Order Completed",
        properties={"order_id": "o-1", "revenue": 12.5, "currency": "EUR", "products": [{"x": 1}]},
        timestamp=at(9, 30),
        context={"channel": "store"},
    )

    touchpoint = touchpoint_of(event.id, event.data)

    assert touchpoint.customer_id == "c1"
    assert touchpoint.id == event.id
    assert touchpoint.event_id == event.data["ingestId"]
    assert (touchpoint.kind, touchpoint.name, touchpoint.channel) == (
        "track",
        "order_completed",
        "store",
    )
    assert touchpoint.timestamp.isoformat() == "2026-03-01T09:30:00+00:00"
    assert touchpoint.event_name == "Order Completed"
    assert touchpoint.properties["order_id"] == "o-1"
    assert touchpoint.properties["currency"] == "EUR"
    assert touchpoint.properties["products"] == [{"x": 1}]


def test_page_touchpoint_is_named_after_the_page():
    event = resolved("page", "m1", "c1", name="Pricing", properties={"path": "/pricing"})

    touchpoint = touchpoint_of(event.id, event.data)

    assert (touchpoint.kind, touchpoint.name, touchpoint.event_name) == (
        "page",
        "Pricing",
        "Pricing",
    )
    assert touchpoint.properties == {"path": "/pricing"}


def test_touchpoint_keeps_every_property_nested_ones_included():
    properties = {"title": "x" * 500, "score": 9, "nested": {"a": [1, {"b": 2}]}, "url": None}
    event = resolved("track", "m1", "c1", event="Product Viewed", properties=properties)

    assert touchpoint_of(event.id, event.data).properties == properties


def test_unresolved_event_cannot_become_a_touchpoint():
    with pytest.raises(JourneyError, match="customerId"):
        touchpoint_of("e1", {"timestamp": at(9)})


def test_cursor_round_trips_the_position():
    event = resolved("page", "m1", "c1", timestamp=at(9))
    touchpoint = touchpoint_of(event.id, event.data)
    where = Position(touchpoint.timestamp, touchpoint.id)

    assert decode_cursor(where.cursor()) == where


@pytest.mark.parametrize("cursor", ["", "not base64!", "bm8tc2VwYXJhdG9y"])
def test_foreign_cursors_are_refused_with_advice(cursor):
    with pytest.raises(InvalidCursorError, match="endCursor"):
        decode_cursor(cursor)


def test_page_size_defaults_and_is_bounded():
    assert page_size(None) == 20
    assert page_size(1000) == MAX_PAGE
    with pytest.raises(JourneyError):
        page_size(-1)


@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
    st.text(min_size=1, max_size=40),
)
def test_any_position_survives_its_cursor(moment, ident):
    where = Position(
        moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC), ident
    )

    assert decode_cursor(where.cursor()) == where
