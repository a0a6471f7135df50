"""The simulator: deterministic per seed, and behaving like real customers across channels."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import phonenumbers
import pytest

from services.profile.domain.identity import identities_of
from shared.events import parse_time
from shared.normalize import Receipt, normalize
from threadline.simulation import base_time_for_seed, generate
from threadline.simulation.care import SURVEY_SCALES, survey_score
from threadline.simulation.journeys import CustomerStory
from threadline.simulation.personas import draw_persona

# ISO 4217 active codes (the standard's list A), the oracle for currency codes.
ISO_4217 = frozenset(
    re.findall(
        "[A-Z]{3}",
        """
        AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
        BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP
        ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
        ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
        MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
        PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
        SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
        VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
        """,
    )
)
ZERO_DECIMALS = frozenset({"JPY", "KRW", "CLP", "VND", "ISK", "UGX", "XAF", "XOF", "PYG"})
CUSTOMERS = 60
SEED = 11
Payload = dict[str, Any]


@pytest.fixture(scope="module")
def payloads() -> list[Payload]:
    return generate(CUSTOMERS, SEED)


@pytest.fixture(scope="module")
def stories() -> list[CustomerStory]:
    now = base_time_for_seed(SEED)
    result = []
    for index in range(CUSTOMERS):
        rng = random.Random(f"threadline-simulation:{SEED}:{index}")
        story = CustomerStory(draw_persona(rng, index), rng, now)
        story.live()
        result.append(story)
    return result


def _events(payloads: list[Payload], name: str) -> list[Payload]:
    return [p for p in payloads if p.get("event") == name]


def _bytes(payloads: list[Payload]) -> bytes:
    return b"\n".join(orjson.dumps(p) for p in payloads)


def test_same_seed_gives_byte_identical_payloads(payloads: list[Payload]) -> None:
    assert _bytes(generate(CUSTOMERS, SEED)) == _bytes(payloads)


def test_another_seed_gives_other_customers(payloads: list[Payload]) -> None:
    other = generate(CUSTOMERS, SEED + 1)
    assert {p["messageId"] for p in other}.isdisjoint({p["messageId"] for p in payloads})


def test_a_customer_behaves_the_same_whatever_the_population_size() -> None:
    small = generate(3, SEED)
    large = generate(8, SEED)
    small_ids = {p["messageId"] for p in small}
    assert [p for p in large if p["messageId"] in small_ids] == small


def test_an_explicit_base_time_moves_every_event_before_it() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    events = generate(10, SEED, now)
    times = [parse_time(p["timestamp"]) for p in events]
    assert max(times) < now
    assert min(times) > now - timedelta(days=70)
    # Weeks of history, not a burst.
    assert max(times) - min(times) > timedelta(days=21)


def test_payloads_come_in_time_order_with_unique_message_ids(payloads: list[Payload]) -> None:
    times = [parse_time(p["timestamp"]) for p in payloads]
    assert times == sorted(times)
    assert len({p["messageId"] for p in payloads}) == len(payloads)
    assert all("sentAt" not in p for p in payloads)


def test_every_customer_story_moves_forward_in_time(stories: list[CustomerStory]) -> None:
    for story in stories:
        moments = [moment for moment, _ in story.events]
        assert moments == sorted(moments), f"customer {story.persona.index} goes back in time"


def test_anonymous_browsing_comes_before_the_identify_that_links_it(
    stories: list[CustomerStory],
) -> None:
    for story in stories:
        persona = story.persona
        if not persona.signs_in:
            continue  # people who never sign in (tests/unit/cli/test_simulation_truth.py)
        first_identify = next(
            i for i, (_, p) in enumerate(story.events) if p["type"] == "identify" and "userId" in p
        )
        before = [p for _, p in story.events[:first_identify]]
        assert before, "each customer browses before signing up"
        assert all("userId" not in p for p in before)
        assert {p["anonymousId"] for p in before} == {persona.web_anonymous_id}
        identify = story.events[first_identify][1]
        assert identify["anonymousId"] == persona.web_anonymous_id
        assert identify["userId"] == persona.user_id
        assert identify["traits"]["email"] == persona.email


def test_store_touchpoints_carry_the_loyalty_card_linked_to_the_account_or_its_email(
    stories: list[CustomerStory],
) -> None:
    store_orders = 0
    for story in stories:
        linked: set[str] = set()
        for _, payload in story.events:
            context = payload.get("context", {})
            if payload["type"] == "identify" and "userId" in payload:
                linked |= {ref["id"] for ref in context.get("externalIds", [])}
            if context.get("channel") != "store":
                continue
            store_orders += payload["event"] == "Order Completed"
            assert payload["event"] in {"Order Completed", "Store Visited"}
            assert "userId" not in payload, "the till knows only the card or an email"
            refs = context.get("externalIds", [])
            if story.persona.loyalty_id:
                (ref,) = refs
                assert ref == {
                    "id": story.persona.loyalty_id,
                    "type": "loyalty_id",
                    "collection": "users",
                    "encoding": "none",
                }
                assert ref["id"] in linked
            else:
                assert not refs
                assert context["traits"] == {"email": story.persona.email}
    assert store_orders > 10


def test_orders_have_valid_currencies_amounts_and_unique_ids(payloads: list[Payload]) -> None:
    orders = _events(payloads, "Order Completed")
    assert len(orders) > 50
    currencies = Counter(o["properties"]["currency"] for o in orders)
    assert set(currencies) <= ISO_4217
    assert {"USD", "EUR", "GBP", "JPY", "BRL"} <= set(currencies)
    ids = [o["properties"]["order_id"] for o in orders]
    assert len(set(ids)) == len(ids)
    for order in orders:
        props = order["properties"]
        places = 0 if props["currency"] in ZERO_DECIMALS else 2
        for key in ("revenue", "total", "tax", "shipping", "discount"):
            amount = Decimal(str(props[key]))
            assert amount >= 0
            assert amount == round(amount, places), f"{key} {amount} {props['currency']}"
        assert props["revenue"] <= props["total"]
        assert props["products"]
        for product in props["products"]:
            assert product["currency"] == props["currency"]
            assert product["quantity"] >= 1


def test_every_channel_appears(payloads: list[Payload]) -> None:
    explicit = Counter(p["context"].get("channel") for p in payloads)
    assert {"store", "call_center", "email", "chat"} <= set(explicit)
    libraries = Counter(p["context"]["library"]["name"] for p in payloads)
    # Web and mobile_app are inferred from the SDK, as the collector does.
    assert libraries["analytics.js"] > 0
    assert libraries["analytics-ios"] > 0
    assert libraries["analytics-android"] > 0
    screens = [p for p in payloads if p["type"] == "screen"]
    assert screens
    assert all(p["context"]["library"]["name"].startswith("analytics-") for p in screens)
    assert all("channel" not in p["context"] for p in screens)


def test_abandoned_checkouts_exist_beside_completed_ones(payloads: list[Payload]) -> None:
    started = {p["properties"]["checkout_id"] for p in _events(payloads, "Checkout Started")}
    completed = {
        p["properties"]["checkout_id"]
        for p in _events(payloads, "Order Completed")
        if "checkout_id" in p["properties"]
    }
    assert completed < started
    assert len(started - completed) > 0.1 * len(started)


def test_call_center_callers_known_by_phone_are_known_by_it_in_local_formats(
    payloads: list[Payload],
) -> None:
    calls = [
        p
        for p in payloads
        if p["type"] == "identify"
        and p["context"].get("channel") == "call_center"
        and "phone" in p["traits"]
    ]
    assert len(calls) >= 4  # the rest are recognised by card or email (test_simulation_truth)
    national = 0
    for call in calls:
        assert "userId" not in call
        phone = call["traits"]["phone"]
        region = call["context"]["locale"].split("-")[1]
        number = phonenumbers.parse(phone, region)
        assert phonenumbers.is_valid_number(number), phone
        national += not phone.startswith("+")
    assert national > 0, "national formats exercise E.164 normalization"


def test_some_emails_need_trimming_and_lower_casing(payloads: list[Payload]) -> None:
    emails = [
        p["traits"]["email"] for p in payloads if p["type"] == "identify" and "email" in p["traits"]
    ]
    messy = [e for e in emails if e != e.strip().lower()]
    assert messy
    assert all(
        re.fullmatch(r"[a-z0-9.]+@example\.(com|org|net)", e.strip().lower()) for e in emails
    )


def test_support_tickets_are_resolved_hours_after_they_open(payloads: list[Payload]) -> None:
    opened = {
        p["properties"]["ticket_id"]: parse_time(p["timestamp"])
        for p in _events(payloads, "Support Ticket Opened")
    }
    resolved = _events(payloads, "Support Ticket Resolved")
    assert resolved
    for payload in resolved:
        ticket = payload["properties"]["ticket_id"]
        delay = parse_time(payload["timestamp"]) - opened[ticket]
        assert timedelta(minutes=10) < delay < timedelta(days=30)
    channels = {p["context"]["channel"] for p in _events(payloads, "Support Ticket Opened")}
    assert {"email", "chat", "call_center"} <= channels


def test_survey_answers_stay_on_their_scales_with_realistic_spread(payloads: list[Payload]) -> None:
    answers: dict[str, list[int]] = defaultdict(list)
    for payload in _events(payloads, "Survey Answered"):
        props = payload["properties"]
        low, high = SURVEY_SCALES[props["survey"]]
        assert low <= props["score"] <= high
        assert (props["scale_min"], props["scale_max"]) == (low, high)
        answers[props["survey"]].append(props["score"])
    assert set(answers) == {"nps", "csat", "ces"}
    nps = answers["nps"]
    # The closing NPS survey comes last; only stories still running at the end miss it.
    assert 0.8 * CUSTOMERS <= len(nps) <= CUSTOMERS
    promoters = sum(score >= 9 for score in nps) / len(nps)
    detractors = sum(score <= 6 for score in nps) / len(nps)
    assert 0.15 < promoters < 0.8
    assert 0.03 < detractors < 0.5
    csat = answers["csat"]
    assert sum(score >= 4 for score in csat) / len(csat) > 0.4


def test_survey_scores_follow_the_customers_mood() -> None:
    rng = random.Random(5)
    unhappy = [survey_score(rng, "nps", 0.1) for _ in range(400)]
    delighted = [survey_score(rng, "nps", 0.95) for _ in range(400)]
    assert sum(unhappy) / 400 < 5 < sum(delighted) / 400


def test_consent_updates_carry_segment_consent_preferences(payloads: list[Payload]) -> None:
    updates = _events(payloads, "Consent Preference Updated")
    assert len(updates) >= CUSTOMERS
    for update in updates:
        preferences = update["context"]["consent"]["categoryPreferences"]
        assert preferences == update["properties"]["preferences"]
        assert all(isinstance(value, bool) for value in preferences.values())
        assert update["userId"]
    assert {u["properties"]["preferences"]["marketing"] for u in updates} == {True, False}


def test_email_touchpoints_include_opens_and_clicks(payloads: list[Payload]) -> None:
    opened = _events(payloads, "Email Opened")
    clicked = _events(payloads, "Email Link Clicked")
    assert opened
    assert clicked
    assert len(clicked) < len(opened)
    assert {p["context"]["channel"] for p in opened + clicked} == {"email"}


def test_the_collectors_normalizer_accepts_every_event_and_sees_every_channel(
    payloads: list[Payload],
) -> None:
    receipt = Receipt(received_at=base_time_for_seed(SEED), source="simulator")
    channels: Counter[str] = Counter()
    phones = emails = 0
    for payload in payloads:
        event = normalize(payload, receipt)  # raises on any invalid field
        channels[event["channel"]] += 1
        # No sentAt is sent, so the simulated time is kept rather than "corrected" to now.
        assert parse_time(event["timestamp"]) == parse_time(payload["timestamp"])
        for identity in identities_of(event):
            if identity.type == "phone":
                phones += 1
                assert re.fullmatch(r"\+[1-9]\d{7,14}", identity.value), identity
            if identity.type == "email":
                emails += 1
                assert identity.value == identity.value.strip().lower()
    assert {"web", "mobile_app", "store", "call_center", "email", "chat"} <= set(channels)
    assert phones > 0
    assert emails > 0
