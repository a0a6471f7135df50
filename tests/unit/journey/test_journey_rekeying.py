from __future__ import annotations

from hypothesis import given, settings

from services.journey.domain.default_journeys import PURCHASE, SERVICE
from services.journey.domain.handoffs import threads
from services.journey.domain.rekeying import erase, merge, split
from services.journey.domain.stages import progress
from tests.unit.journey.journey_builders import interactions, ix


@settings(max_examples=200, deadline=None)
@given(interactions(customers=("a", "b"), max_size=16))
def test_merging_two_customers_equals_having_been_one_customer_all_along(items):
    alice = [i for i in items if i.customer_id == "a"]
    bob = [i for i in items if i.customer_id == "b"]
    all_along = [i.with_customer("a") for i in items]

    merged = merge("a", alice, bob, bob[:1])  # a redelivered merge changes nothing

    assert merged == merge("a", all_along)
    for journey in (PURCHASE, SERVICE):
        assert progress(journey, "a", merged) == progress(journey, "a", all_along)
        assert threads(journey, "a", merged) == threads(journey, "a", all_along)


def test_split_moves_the_named_interactions_to_the_new_customer():
    items = [ix("e1", 0, "Product Viewed"), ix("e2", 1, "Order Completed", "store")]

    kept, moved = split(items, {"e2"}, "c2")

    assert [i.id for i in kept] == ["e1"]
    assert [(i.id, i.customer_id) for i in moved] == [("e2", "c2")]
    assert progress(PURCHASE, "c2", moved).current.stage == "purchase"  # type: ignore[union-attr]


def test_erase_deletes_every_interaction_of_the_customer():
    items = [
        ix("e1", 0, "Product Viewed", customer="c1"),
        ix("e2", 1, "Product Viewed", customer="c2"),
    ]

    assert [i.customer_id for i in erase(items, "c1")] == ["c2"]
