"""Interactions for journey domain tests: readable builders and Hypothesis strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from services.journey.domain.interactions import Interaction, interaction

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ("web", "mobile_app", "store", "call_center", "email", "chat")
VOCABULARY = (
    ("Page", "page"),
    ("Product Viewed", "track"),
    ("Product Added to Wishlist", "track"),
    ("Store Visited", "track"),
    ("Checkout Started", "track"),
    ("Order Completed", "track"),
    ("Product Reviewed", "track"),
    ("Support Ticket Opened", "track"),
    ("Support Ticket Assigned", "track"),
    ("Support Ticket Resolved", "track"),
    ("Survey Answered", "track"),
)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ix(
    id: str,
    hours: float,
    name: str,
    channel: str = "web",
    customer: str = "c1",
    *,
    kind: str = "track",
    **properties: Any,
) -> Interaction:
    return interaction(id, customer, at(hours), channel, name, properties, kind=kind)


@st.composite
def interactions(
    draw: st.DrawFn,
    customers: tuple[str, ...] = ("c1",),
    max_size: int = 12,
    min_size: int = 0,
    vocabulary: tuple[tuple[str, str], ...] = VOCABULARY,
    hours: int = 24 * 20,
    step: int = 1,
) -> list[Interaction]:
    """Distinct interactions at quarter hours (whole hours with ``step=4``) in ``[0, hours/4]``.

    The clock is coarse so that ties in event time are common.
    """
    count = draw(st.integers(min_size, max_size))
    items = []
    for n in range(count):
        name, kind = draw(st.sampled_from(vocabulary))
        props: dict[str, Any] = {}
        if name == "Survey Answered":
            props = {
                "survey": draw(st.sampled_from(("nps", "csat"))),
                "score": draw(st.integers(0, 10)),
            }
        items.append(
            interaction(
                f"e{n:03d}",
                draw(st.sampled_from(customers)),
                at(draw(st.integers(0, hours // step)) * step / 4),
                draw(st.sampled_from(CHANNELS)),
                name,
                props,
                kind=kind,
            )
        )
    return items


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn, items: list[Interaction]) -> list[Interaction]:
    """The same interactions in any order, some delivered more than once."""
    repeats = draw(st.lists(st.sampled_from(items), max_size=len(items))) if items else []
    return list(draw(st.permutations([*items, *repeats])))
