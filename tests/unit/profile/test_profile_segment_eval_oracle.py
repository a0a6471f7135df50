"""The segment evaluator against a brute-force oracle.

The oracle interprets the raw JSON condition directly (no parsing into a tree, no
re-check bookkeeping). Membership must agree with it at any moment, and the
evaluator's ``recheck_at`` must be safe: the oracle's answer stays the same at every
moment before it (checked on a fine grid over the next days), and with no
``recheck_at`` it stays the same forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.profile.domain.segment_eval import CustomerFacts, EventFact, verdict
from services.profile.domain.segments import parse_condition

pytestmark = pytest.mark.slow  # hundreds of examples each: window edges are rare

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
EVENTS = ["order_completed", "product_viewed"]
CHANNELS = ["web", "store"]
MISSING = object()

# ---------------------------------------------------------------------------- the oracle


def oracle(cond: dict[str, Any], facts: CustomerFacts, now: datetime) -> bool:
    if "and" in cond:
        return all(oracle(c, facts, now) for c in cond["and"])
    if "or" in cond:
        return any(oracle(c, facts, now) for c in cond["or"])
    if "not" in cond:
        return not oracle(cond["not"], facts, now)
    if "trait" in cond:
        value = facts.traits.get(cond["trait"], MISSING)
        return all(trait_op(op, value, arg) for op, arg in cond.items() if op != "trait")
    if "identity" in cond:
        return cond["identity"] in facts.identity_types
    if "consent" in cond:
        return facts.consents.get(cond["consent"], "unknown") in as_list(cond["status"])
    if "event" in cond or "channel" in cond:
        return events_oracle(cond, facts, now)
    if "journey" in cond:
        return facts.journeys.get(cond["journey"]) in as_list(cond["stage"])
    if "score" in cond:
        value = facts.scores.get(cond["score"])
        ops = {k: v for k, v in cond.items() if k != "score"}
        return value is not None and all(cmp(op, value, arg) for op, arg in ops.items())
    raise AssertionError(cond)


def events_oracle(cond: dict[str, Any], facts: CustomerFacts, now: datetime) -> bool:
    hours = int(cond["within"][2:-1]) if "within" in cond else None
    counted = []
    for event in facts.events:
        named = (
            event.channel == cond["channel"] if "channel" in cond else event.name == cond["event"]
        )
        happened = event.timestamp <= now
        recent = hours is None or now - event.timestamp < timedelta(hours=hours)
        if named and happened and recent:
            counted.append(event)
    if "channel" in cond:
        return bool(counted) or ("within" not in cond and cond["channel"] in facts.channels)
    if "sum" in cond:
        total = sum(Decimal(str(e.properties.get("revenue", 0))) for e in counted)
        ops = {k: v for k, v in cond["sum"].items() if k != "property"}
        return all(cmp(op, total, arg) for op, arg in ops.items())
    ops = cond.get("count", {"gte": 1})
    return all(cmp(op, len(counted), arg) for op, arg in ops.items())


def trait_op(op: str, value: Any, arg: Any) -> bool:
    if op == "exists":
        return (value is not MISSING and value is not None) is bool(arg)
    if value is MISSING:
        return op == "ne"
    if op == "eq":
        return same(value, arg)
    if op == "ne":
        return not same(value, arg)
    if op == "in":
        return any(same(value, a) for a in arg)
    if op == "contains":
        if isinstance(value, list):
            return any(same(v, arg) for v in value)
        return isinstance(value, str) and isinstance(arg, str) and arg in value
    if op == "startsWith":
        return isinstance(value, str) and value[: len(arg)] == arg
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (value, arg))
    texts = isinstance(value, str) and isinstance(arg, str)
    return (numbers or texts) and cmp(op, value, arg)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def cmp(op: str, left: Any, right: Any) -> bool:
    left = Decimal(str(left)) if isinstance(left, float) else left
    right = Decimal(str(right)) if isinstance(right, float) else right
    return bool(
        {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[op]
    )


def as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


# ---------------------------------------------------------------------------- strategies

VALUES = st.sampled_from([0, 1, 2, 2.5, -1, True, False, None, "pro", "free", "Jo", "Joe", ""])
ORDERABLE = st.sampled_from([0, 1, 2, 2.5, -1, "pro", "Jo", ""])
COMPARE_OPS = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"])
WITHIN = st.one_of(st.none(), st.integers(1, 12).map(lambda h: f"PT{h}H"))


def windowed(node: dict[str, Any], within: str | None) -> dict[str, Any]:
    return {**node, "within": within} if within else node


trait_node = st.builds(
    lambda name, ops: {"trait": name, **ops},
    st.sampled_from(["plan", "age", "tags", "name"]),
    st.dictionaries(st.sampled_from(["eq", "ne", "contains"]), VALUES, min_size=1)
    | st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), ORDERABLE, min_size=1)
    | st.builds(lambda v: {"in": v}, st.lists(VALUES, max_size=3))
    | st.builds(lambda v: {"exists": v}, st.booleans())
    | st.builds(lambda v: {"startsWith": v}, st.sampled_from(["J", "Jo", "p", ""])),
)
count_node = st.builds(
    lambda name, ops, within: windowed({"event": name, "count": ops}, within),
    st.sampled_from(EVENTS),
    st.dictionaries(COMPARE_OPS, st.integers(0, 3), min_size=1),
    WITHIN,
)
sum_node = st.builds(
    lambda ops, within: windowed(
        {"event": "order_completed", "sum": {"property": "revenue", **ops}}, within
    ),
    st.dictionaries(COMPARE_OPS, st.sampled_from([0, 10, 25, 30.5, 100]), min_size=1),
    WITHIN,
)
channel_node = st.builds(
    lambda n, w: windowed({"channel": n}, w), st.sampled_from(CHANNELS), WITHIN
)
leaf = st.one_of(
    # Windowed event nodes weigh most: they are where time matters.
    count_node,
    sum_node,
    channel_node,
    count_node,
    channel_node,
    trait_node,
    st.builds(lambda t: {"identity": t}, st.sampled_from(["email", "phone"])),
    st.builds(
        lambda p, s: {"consent": p, "status": s},
        st.sampled_from(["ads", "analytics"]),
        st.lists(st.sampled_from(["granted", "denied", "revoked", "unknown"]), min_size=1),
    ),
    st.builds(
        lambda s: {"journey": "onboarding", "stage": s},
        st.lists(st.sampled_from(["signup", "activated"]), min_size=1),
    ),
    st.builds(
        lambda op, v: {"score": "churnRisk", op: v}, COMPARE_OPS, st.sampled_from([0.2, 0.5])
    ),
)
conditions = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda cs: {"and": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"or": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=6,
)
events = st.lists(
    st.builds(
        lambda name, hour, channel, revenue: EventFact(
            name, T0 + hour * HOUR, channel, {"revenue": revenue} if revenue is not None else {}
        ),
        st.sampled_from([*EVENTS, None]),
        st.integers(0, 24),
        st.sampled_from(CHANNELS),
        st.one_of(st.none(), st.sampled_from([5, 10, "12.5", 20.25])),
    ),
    max_size=8,
)
facts = st.builds(
    lambda traits, ids, consents, evs, channels, journeys, scores: CustomerFacts(
        "c1",
        traits=traits,
        identity_types=frozenset(ids),
        consents=consents,
        events=tuple(evs),
        channels=frozenset(channels) | {e.channel for e in evs if e.timestamp <= T0},
        journeys=journeys,
        scores=scores,
    ),
    st.dictionaries(
        st.sampled_from(["plan", "age", "tags", "name"]),
        VALUES | st.lists(VALUES, max_size=2),
    ),
    st.sets(st.sampled_from(["email", "phone", "user_id"])),
    st.dictionaries(
        st.sampled_from(["ads", "analytics"]), st.sampled_from(["granted", "denied", "revoked"])
    ),
    events,
    st.sets(st.sampled_from(CHANNELS)),
    st.dictionaries(st.just("onboarding"), st.sampled_from(["signup", "activated"])),
    st.dictionaries(st.just("churnRisk"), st.one_of(st.none(), st.sampled_from([0.2, 0.5, 0.9]))),
)
moments = st.integers(0, 60).map(lambda half_hours: T0 + half_hours * HOUR / 2)
# On the hour, where events (and so window edges) lie.
hours = st.integers(0, 36).map(lambda h: T0 + h * HOUR)


@settings(max_examples=500, deadline=None)
@given(conditions, facts, hours)
def test_membership_agrees_with_the_oracle(raw, customer, now):
    assert verdict(parse_condition(raw), customer, now).member == oracle(raw, customer, now)


@settings(max_examples=400, deadline=None)
@given(conditions, facts, moments)
def test_answer_holds_until_the_recheck_time_and_forever_without_one(raw, customer, now):
    answer = verdict(parse_condition(raw), customer, now)
    end = answer.recheck_at or now + 2 * 24 * HOUR
    # Every critical moment lies on the hour grid (events on the hour, windows in hours):
    # probe each half hour and the instant just before each hour.
    probe = now
    while probe < end:
        assert oracle(raw, customer, probe) == answer.member, (probe, answer)
        before_next = probe + HOUR / 2 - timedelta(microseconds=1)
        if before_next < end:
            assert oracle(raw, customer, before_next) == answer.member, (before_next, answer)
        probe += HOUR / 2
    if answer.recheck_at is not None:
        assert answer.recheck_at > now
