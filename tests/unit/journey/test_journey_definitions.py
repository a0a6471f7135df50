from __future__ import annotations

import pytest

from services.journey.domain import JourneyError
from services.journey.domain.default_journeys import DEFAULT_CATALOG, PURCHASE
from services.journey.domain.interactions import chronological, interaction, interaction_of
from services.journey.domain.journeys import (
    Condition,
    DefinitionError,
    Journey,
    JourneyCatalog,
    Match,
    Stage,
)
from tests.support.resolved_events import resolved
from tests.unit.journey.journey_builders import at, ix


def test_resolved_event_becomes_an_interaction_keeping_its_original_name_and_properties():
    event = resolved(
        "track",
        "m1",
        "c1",
        event="Order Completed",
        properties={"order_id": "o-1", "products": [{"sku": "x"}]},
        timestamp="2026-03-01T09:30:00Z",
        context={"channel": "store"},
    )

    item = interaction_of(event.id, event.data)

    assert (item.event, item.original_name, item.channel) == (
        "order_completed",
        "Order Completed",
        "store",
    )
    assert item.properties["products"] == [{"sku": "x"}]
    assert item.customer_id == "c1"


def test_interaction_names_are_canonical_snake_case():
    assert ix("e1", 0, "Product Added to Wishlist").event == "product_added_to_wishlist"


def test_interaction_rejects_an_unknown_channel_saying_which_to_use():
    with pytest.raises(JourneyError, match=r"channel 'fax' is not one of .*use 'other'"):
        interaction("e1", "c1", at(0), "fax", "Order Completed")


def test_interaction_rejects_a_naive_timestamp():
    with pytest.raises(JourneyError, match="no time zone"):
        interaction("e1", "c1", at(0).replace(tzinfo=None), "web", "Order Completed")


def test_timeline_keeps_one_copy_per_id_in_event_time_order():
    items = [
        ix("b", 1, "Product Viewed"),
        ix("a", 1, "Product Viewed"),
        ix("b", 1, "Product Viewed"),
    ]

    assert [i.id for i in chronological(items)] == ["a", "b"]


@pytest.mark.parametrize(
    ("condition", "properties", "expected"),
    [
        (Condition("score", "gte", 9), {"score": "9"}, True),
        (Condition("score", "gte", 9), {"score": 8.5}, False),
        (Condition("score", "gte", 9), {"score": "n/a"}, False),
        (Condition("survey", "eq", "nps"), {"survey": "nps"}, True),
        (Condition("revenue", "eq", 10), {"revenue": "10.00"}, True),
        (Condition("survey", "in", ["csat", "ces"]), {"survey": "nps"}, False),
        (Condition("survey", "not_in", ["csat"]), {}, True),
        (Condition("survey", "ne", "nps"), {}, True),
        (Condition("shipping.method", "eq", "express"), {"shipping": {"method": "express"}}, True),
        (Condition("coupon", "exists"), {"coupon": None}, False),
        (Condition("coupon", "missing"), {}, True),
    ],
)
def test_property_conditions(condition, properties, expected):
    assert condition.holds(properties) is expected


def test_match_combines_event_channel_and_conditions():
    match = Match(
        events=("Order Completed",), channels=("store",), where=(Condition("total", "gt", 100),)
    )

    assert match.matches(ix("e1", 0, "Order Completed", "store", total=150))
    assert not match.matches(ix("e2", 0, "Order Completed", "web", total=150))
    assert not match.matches(ix("e3", 0, "Order Completed", "store", total=50))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Condition("score", "gte", "high"), "needs a number"),
        (lambda: Condition("score", "like", 1), "unknown op 'like'; use one of"),  # type: ignore[arg-type]
        (lambda: Condition("survey", "in", "nps"), "needs a list"),
        (lambda: Match(channels=("fax",)), "not channels"),
        (lambda: Stage("a", "A", ()), "has no `entered_by`"),
        (lambda: Journey("j", 1, "J", ()), "has no stages"),
        (
            lambda: Journey(
                "j", 1, "J", (Stage("a", "A", (Match(),)), Stage("a", "B", (Match(),)))
            ),
            "appear twice",
        ),
        (
            lambda: Journey("j", 1, "J", (Stage("a", "A", (Match(),)),), restarts_after="z"),
            "not a stage",
        ),
    ],
)
def test_malformed_definitions_say_what_to_fix(build, message):
    with pytest.raises(DefinitionError, match=message):
        build()


def test_catalog_versions_a_journey_and_keeps_the_old_version():
    v2 = Journey("purchase", 2, "Purchase", PURCHASE.stages[:3])

    catalog = DEFAULT_CATALOG.with_version(v2)

    assert catalog.get("purchase") is v2
    assert catalog.get("purchase", 1) is PURCHASE
    assert [(j.id, j.version) for j in catalog.current()] == [("purchase", 2), ("service", 1)]


def test_catalog_refuses_a_version_that_is_not_the_next_one():
    with pytest.raises(DefinitionError, match="publish the change as version 2, not 3"):
        DEFAULT_CATALOG.with_version(Journey("purchase", 3, "Purchase", PURCHASE.stages))


def test_catalog_refuses_two_different_definitions_under_one_version():
    other = Journey("purchase", 1, "Other", PURCHASE.stages[:1])

    with pytest.raises(DefinitionError, match="defined twice"):
        JourneyCatalog((PURCHASE, other))


def test_unknown_journey_lists_the_known_ones():
    with pytest.raises(DefinitionError, match=r"known journeys are \['purchase', 'service'\]"):
        DEFAULT_CATALOG.get("onboarding")
