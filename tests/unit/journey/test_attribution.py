from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.journey.domain.attribution import (
    MODELS,
    AttributionError,
    AttributionQuery,
    Model,
    attribute,
    removal_effects,
)
from services.journey.domain.interactions import Interaction
from tests.unit.journey.journey_builders import at, interactions, ix

PERIOD = (at(0), at(24 * 20))
NAMES = (("Page", "page"), ("Product Viewed", "track"), ("Order Completed", "track"))


def _credits(
    model: Model, items: list[Interaction], **options
) -> dict[str, tuple[float, float | None]]:
    query = AttributionQuery("Order Completed", *PERIOD, model=model, **options)
    return {c.channel: (round(c.conversions, 9), c.revenue) for c in attribute(query, items)}


def test_markov_removal_effects_match_the_published_worked_example():
    # Serhii Puzyrov, "Markov Chain Attribution – Simple Explanation Of Removal Effect" (2019),
    # https://serhiipuzyrov.com/2019/07/markov-chain-attribution-simple-explanation-of-removal-effect/
    # Paths: google ads → conv (twice), mailing → conv, google ads → mailing → conv,
    # google ads → null. P(conv) = 0.8; without google ads 0.2, without mailing 0.4,
    # so the removal effects are 0.75 and 0.5.
    paths = [
        (["google_ads"], True),
        (["google_ads"], True),
        (["mailing"], True),
        (["google_ads", "mailing"], True),
        (["google_ads"], False),
    ]

    assert removal_effects(paths) == {"google_ads": Fraction(3, 4), "mailing": Fraction(1, 2)}


def test_markov_credit_splits_each_conversion_by_the_removal_effects_on_its_path():
    # The worked example above as touchpoints: web plays google ads, email plays mailing.
    items = [
        ix("1", 1, "Order Completed", "web", customer="a"),
        ix("2", 1, "Order Completed", "web", customer="b"),
        ix("3", 1, "Order Completed", "email", customer="c"),
        ix("4a", 1, "Page", "web", customer="d", kind="page"),
        ix("4b", 2, "Order Completed", "email", customer="d"),
        ix("5", 1, "Page", "web", customer="e", kind="page"),
    ]

    # d's conversion: web 0.75 / (0.75 + 0.5) = 0.6, email 0.4.
    assert _credits("markov", items) == {"web": (2.6, None), "email": (1.4, None)}


def test_position_gives_forty_twenty_forty():
    items = [
        ix("1", 0, "Page", "email", kind="page"),
        ix("2", 1, "Page", "web", kind="page"),
        ix("3", 2, "Page", "store", kind="page"),
        ix("4", 3, "Order Completed", "mobile_app", revenue="100"),
    ]

    assert _credits("position", items) == {
        "email": (0.4, 40.0),
        "mobile_app": (0.4, 40.0),
        "store": (0.1, 10.0),
        "web": (0.1, 10.0),
    }


def test_time_decay_halves_the_weight_every_seven_days():
    items = [ix("1", 0, "Page", "email", kind="page"), ix("2", 24 * 7, "Order Completed", "store")]

    assert _credits("time_decay", items) == {
        "store": (round(2 / 3, 9), None),
        "email": (round(1 / 3, 9), None),
    }


def test_touchpoints_older_than_the_lookback_get_no_credit():
    items = [ix("1", 0, "Page", "email", kind="page"), ix("2", 24 * 8, "Order Completed", "store")]

    assert _credits("first", items, lookback=timedelta(days=7)) == {"store": (1.0, None)}
    assert _credits("first", items, lookback=timedelta(days=8)) == {"email": (1.0, None)}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": "shapley"}, "unknown model 'shapley'; use one of first"),
        ({"end": at(0)}, "must be before `to`"),
        ({"lookback": timedelta(days=-1)}, "`lookbackDays` must be zero or more"),
        ({"conversion": "!!"}, "`conversion`"),
    ],
)
def test_malformed_attribution_queries_say_what_to_fix(arguments, message):
    with pytest.raises(AttributionError, match=message):
        AttributionQuery(
            **{"conversion": "Order Completed", "start": at(0), "end": at(1), **arguments}
        )


revenues = st.sampled_from((None, "10", "25.5", 7))


@st.composite
def with_revenue(draw: st.DrawFn) -> list[Interaction]:
    items = draw(
        interactions(customers=("a", "b", "c"), max_size=16, vocabulary=NAMES, hours=4 * 24 * 30)
    )
    out = []
    for item in items:
        revenue = draw(revenues) if item.event == "order_completed" else None
        props = {"revenue": revenue} if revenue is not None else {}
        out.append(
            ix(
                item.id,
                (item.timestamp - at(0)) / timedelta(hours=1),
                item.original_name,
                item.channel,
                item.customer_id,
                kind=item.kind,
                **props,
            )
        )
    return out


def _brute_force(items: list[Interaction], model: str, lookback: timedelta):
    """Conversions and first/last/linear credit read straight off the raw touchpoints."""
    count, revenue = 0, 0.0
    credit: defaultdict[str, float] = defaultdict(float)
    for conv in items:
        if not (
            conv.kind == "track"
            and conv.event == "order_completed"
            and PERIOD[0] <= conv.timestamp < PERIOD[1]
        ):
            continue
        count += 1
        revenue += float(conv.properties.get("revenue", 0))
        touches = sorted(
            (
                t
                for t in items
                if t.customer_id == conv.customer_id
                and conv.timestamp - lookback <= t.timestamp
                and (t.timestamp, t.id) <= (conv.timestamp, conv.id)
            ),
            key=lambda t: (t.timestamp, t.id),
        )
        if model == "first":
            credit[touches[0].channel] += 1
        elif model == "last":
            credit[touches[-1].channel] += 1
        else:
            for t in touches:
                credit[t.channel] += 1 / len(touches)
    return count, revenue, credit


@settings(max_examples=200, deadline=None)
@given(with_revenue(), st.sampled_from(MODELS), st.integers(0, 30))
def test_credits_sum_to_the_number_of_conversions_and_their_revenue(items, model, days):
    lookback = timedelta(days=days)
    count, revenue, credit = _brute_force(items, model, lookback)

    found = attribute(
        AttributionQuery("Order Completed", *PERIOD, model=model, lookback=lookback), items
    )

    assert math.isclose(sum(c.conversions for c in found), count, abs_tol=1e-9)
    assert math.isclose(sum(c.revenue or 0 for c in found), revenue, abs_tol=1e-6)
    if model in ("first", "last", "linear"):
        assert {c.channel: round(c.conversions, 9) for c in found} == {
            k: round(v, 9) for k, v in credit.items()
        }
