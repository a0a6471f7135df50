"""What KPIs read from resolved events: orders, answers checked against their scales, tickets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.currency import ExchangeRates, MissingRateError
from services.scoring.domain.kpi_facts import (
    SCALES,
    KpiEvent,
    Order,
    SurveyScaleError,
    SurveyScore,
    TicketUpdate,
    survey_score,
)
from tests.support.resolved_events import at, resolved


def kpi_event(message_id: str, event: str, **properties: Any) -> KpiEvent:
    cloud = resolved(
        "track",
        message_id,
        "c1",
        event=event,
        properties=properties,
        context={"channel": "store"},
        timestamp=at(10),
    )
    return KpiEvent.from_data(cloud.id, cloud.data)


def test_an_order_keeps_its_id_amount_and_currency_as_decimals():
    event = kpi_event("m1", "Order Completed", order_id="A-1", revenue="19.90", currency="eur")

    assert event.order == Order("A-1", Decimal("19.90"), "EUR")
    assert event.channel == "store"


def test_an_order_without_an_order_id_is_activity_with_the_reason_it_is_no_order():
    event = kpi_event("m1", "Order Completed", revenue=5, currency="USD")

    assert event.order is None
    assert event.problems == (
        "order_completed without properties.order_id is not counted as an order",
    )


def test_answers_on_their_scales_are_kept_as_whole_numbers():
    assert kpi_event("m1", "Survey Answered", survey="NPS", score="9").survey == SurveyScore(
        "nps", 9
    )
    assert kpi_event("m2", "Survey Answered", survey="ces", score=7.0).survey == SurveyScore(
        "ces", 7
    )


@pytest.mark.parametrize(
    ("survey", "score", "reason"),
    [
        ("nps", 11, "nps answer 11 is outside its 0-10 scale"),
        ("csat", 0, "csat answer 0 is outside its 1-5 scale"),
        ("ces", 8, "ces answer 8 is outside its 1-7 scale"),
        ("csat", 4.5, "csat answer 4.5 is not a whole number"),
        ("nps", True, "nps answer True is not a whole number"),
        ("mood", 3, "survey 'mood' is not one of nps, csat, ces"),
    ],
)
def test_answers_off_their_scale_are_left_out_and_say_why(survey, score, reason):
    event = kpi_event("m1", "Survey Answered", survey=survey, score=score)

    assert event.survey is None
    assert len(event.problems) == 1
    assert event.problems[0].startswith(reason)


@given(kind=st.sampled_from(sorted(SCALES)), score=st.integers(-5, 15))
def test_a_score_is_accepted_exactly_when_it_lies_on_its_scale(kind, score):
    low, high = SCALES[kind]
    if low <= score <= high:
        assert survey_score(kind, score) == SurveyScore(kind, score)
    else:
        with pytest.raises(
            SurveyScaleError, match=f"send properties.score as an integer from {low} to {high}"
        ):
            survey_score(kind, score)


def test_ticket_steps_are_read_from_segment_style_event_names():
    event = kpi_event("m1", "Support Ticket Resolved", ticket_id=42)

    assert event.ticket == TicketUpdate("42", "resolved")


def test_revenue_converts_to_the_reporting_currency_with_the_configured_rates():
    rates = ExchangeRates("EUR", {"USD": Decimal("0.9")})

    assert rates.convert({"EUR": Decimal("10"), "USD": Decimal("10")}) == Decimal("19.0")


def test_a_currency_without_a_rate_is_named_with_how_to_configure_it():
    rates = ExchangeRates("EUR", {"USD": Decimal("0.9")})

    with pytest.raises(MissingRateError, match="no exchange rate from GBP to EUR; add GBP"):
        rates.convert({"GBP": Decimal(1)})
