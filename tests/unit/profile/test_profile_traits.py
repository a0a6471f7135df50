from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.profile.domain import ProfileError
from services.profile.domain.trait_ops import trait_statements
from services.profile.domain.traits import (
    STRATEGIES,
    TraitOp,
    TraitRules,
    TraitState,
    fold,
    fold_traits,
    merge_traits,
)
from shared.settings import Settings

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def op(kind: Any, value: Any, minutes: int, event: str, source: str = "s") -> TraitOp:
    return TraitOp(kind, value, T0 + timedelta(minutes=minutes), event, source, "web")


def apply(ops_by_event: Sequence[dict[str, list[TraitOp]]], rules: TraitRules = TraitRules()):
    traits: dict[str, TraitState] = {}
    for ops in ops_by_event:
        traits, _ = merge_traits(traits, ops, rules)
    return traits


def test_later_event_overwrites_a_trait_with_its_provenance():
    traits = apply([{"plan": [op("set", "free", 0, "e1", "web-key")]}])

    merged, changed = merge_traits(traits, {"plan": [op("set", "pro", 60, "e2", "crm")]})

    plan = merged["plan"]
    assert (plan.value, plan.source, plan.event_id, plan.updated_at) == (
        "pro",
        "crm",
        "e2",
        T0 + timedelta(hours=1),
    )
    assert set(changed) == {"plan"}


def test_late_event_never_overwrites_a_newer_value():
    traits = apply([{"plan": [op("set", "pro", 0, "e1")]}])

    merged, changed = merge_traits(
        traits, {"plan": [op("set", "free", -60, "e0")], "city": [op("set", "Leeds", -60, "e0")]}
    )

    assert merged["plan"].value == "pro"
    assert merged["city"].value == "Leeds"  # unknown before: a late value still fills it
    assert set(changed) == {"city"}


def test_set_once_fills_only_a_trait_without_a_value():
    traits = apply(
        [
            {"referrer": [op("set_once", "google", 0, "e1")]},
            {"referrer": [op("set_once", "bing", 5, "e2")]},
        ]
    )
    assert traits["referrer"].value == "google"

    # An earlier set_once, delivered late, was the first to fill it.
    late, _ = merge_traits(traits, {"referrer": [op("set_once", "ads", -5, "e0")]})
    assert late["referrer"].value == "ads"

    # A set wins over set_once whatever their times.
    overwritten, _ = merge_traits(late, {"referrer": [op("set", "newsletter", -10, "e9")]})
    assert overwritten["referrer"].value == "newsletter"


def test_unset_removes_a_trait_until_a_later_statement():
    traits = apply([{"plan": [op("set", "pro", 0, "e1")]}, {"plan": [op("unset", None, 5, "e2")]}])
    assert not traits["plan"].present
    assert traits["plan"].value is None

    older, changed = merge_traits(traits, {"plan": [op("set", "free", 3, "e3")]})
    assert not older["plan"].present
    assert changed == {}

    newer, _ = merge_traits(traits, {"plan": [op("set_once", "trial", 7, "e4")]})
    assert newer["plan"].value == "trial"


def test_sum_counts_a_redelivered_event_once():
    rules = TraitRules.of({"visits": "sum"})
    one = {"visits": [op("set", 1, 0, "e1")]}
    two = {"visits": [op("set", 2, 1, "e2")]}

    traits = apply([one, two, one, two, one], rules)

    assert traits["visits"].value == 3
    assert traits["visits"].event_id == "e2"  # the latest contribution


def test_union_collects_items_of_every_value():
    rules = TraitRules.of({"tags": "union"})
    traits = apply(
        [
            {"tags": [op("set", ["vip", "eu"], 0, "e1")]},
            {"tags": [op("set", "b2b", 1, "e2")]},
            {"tags": [op("set", ["eu"], 2, "e3")]},
        ],
        rules,
    )

    assert traits["tags"].value == ["b2b", "eu", "vip"]


def test_max_and_min_ignore_values_they_cannot_compare():
    rules = TraitRules.of({"best": "max", "worst": "min"})
    events = [
        {"best": [op("set", 5, 0, "e1")], "worst": [op("set", 5, 0, "e1")]},
        {"best": [op("set", {"x": 1}, 1, "e2")], "worst": [op("set", True, 1, "e2")]},
        {"best": [op("set", 2, 2, "e3")], "worst": [op("set", 2, 2, "e3")]},
    ]

    traits = apply(events, rules)

    assert (traits["best"].value, traits["worst"].value) == (5, 2)


def test_unknown_strategies_are_refused_with_the_known_ones_named():
    with pytest.raises(ProfileError, match="THREADLINE_TRAIT_STRATEGIES") as refused:
        TraitRules.of({"visits": "add"})

    assert "visits" in str(refused.value)
    assert "latest, first, max, min, sum, union" in str(refused.value)


def test_statements_from_segment_traits_and_posthog_operators():
    found = trait_statements(
        {
            "plan": "pro",
            "city": "Leeds",
            "$set": {"city": "York"},
            "$set_once": {"first_seen_on": "web"},
            "$unset": ["legacy"],
        },
        {"$set": {"score": 3}, "$unset": {"old": True}, "ignored": 1},
        at=T0,
        event_id="e1",
        source="s",
        channel="web",
    )

    said = {name: [(o.kind, o.value) for o in ops] for name, ops in found.items()}
    assert said == {
        "plan": [("set", "pro")],
        "city": [("set", "York")],
        "first_seen_on": [("set_once", "web")],
        "legacy": [("unset", None)],
        "score": [("set", 3)],
        "old": [("unset", None)],
    }


# -- order independence against a brute-force oracle -------------------------------------

_ABSENT = object()


def _key(value: Any) -> tuple[int, Any]:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return (0, value) if number else (1, value)


def _counts(strategy: str, value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if strategy in ("max", "min"):
        return number or isinstance(value, str)
    return number if strategy == "sum" else True


def _items(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _combine(strategy: str, current: Any, value: Any) -> tuple[Any, bool]:
    """The value after a set, and whether the set decided it (for the provenance)."""
    if current is _ABSENT or strategy == "latest":
        return (_items(value) if strategy == "union" else value), True
    if strategy == "first":
        return current, False
    if strategy == "max":
        return (value, True) if _key(value) >= _key(current) else (current, False)
    if strategy == "min":
        return (value, True) if _key(value) <= _key(current) else (current, False)
    if strategy == "sum":
        return current + value, True
    return current + _items(value), True


def oracle(strategy: str, statements: Sequence[TraitOp]) -> tuple[Any, str | None]:
    """Apply every distinct statement one by one in event-time order: (value, deciding event)."""
    distinct = {s.order(): s for s in statements}
    value: Any = _ABSENT
    decided: str | None = None
    for statement in sorted(distinct.values(), key=TraitOp.order):
        if statement.kind == "unset":
            value, decided = _ABSENT, None
        elif not _counts(strategy, statement.value):
            continue
        elif statement.kind == "set_once" and strategy == "latest":
            if value is _ABSENT:
                value, decided = statement.value, statement.event_id
        else:
            value, took = _combine(strategy, value, statement.value)
            decided = statement.event_id if took else decided
    if strategy == "union" and value is not _ABSENT:
        canonical = {orjson.dumps(i, option=orjson.OPT_SORT_KEYS): i for i in value}
        value = [canonical[k] for k in sorted(canonical)]
    return value, decided


values = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["a", "b", 0.5, 1.5, True]),
    st.none(),
    st.lists(st.sampled_from(["x", "y", "z"]), max_size=2),
)
kinds = st.sampled_from(["set", "set", "set", "set_once", "unset"])


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[list[TraitOp]], list[list[TraitOp]]]:
    """A strategy, the events (each a few statements about one trait) and a delivery of them
    in any order with redeliveries."""
    strategy = draw(st.sampled_from(STRATEGIES))
    events = []
    for index in range(draw(st.integers(1, 8))):
        minute = draw(st.integers(0, 4))
        said = draw(st.lists(st.tuples(kinds, values), min_size=1, max_size=2))
        ops = {kind: op(kind, value, minute, f"e{index}") for kind, value in said}
        events.append(list(ops.values()))
    delivery = draw(st.permutations(events))
    redelivered = draw(st.lists(st.sampled_from(events), max_size=3))
    return strategy, events, [*delivery, *redelivered]


@settings(max_examples=400)
@given(histories())
def test_any_delivery_order_gives_what_event_time_order_gives(history):
    strategy, events, delivery = history
    rules = TraitRules.of({"t": strategy})

    state = apply([{"t": ops} for ops in delivery], rules).get("t")

    expected, decided_by = oracle(strategy, [s for ops in events for s in ops])
    if expected is _ABSENT:
        assert state is None or not state.present
    else:
        assert state is not None
        assert state.present
        assert state.value == expected
        assert state.event_id == decided_by
    in_order = apply([{"t": ops} for ops in events], rules).get("t")
    assert state == in_order


@given(histories(), st.data())
def test_folding_two_partial_states_equals_applying_everything(history, data):
    strategy, events, delivery = history
    rules = TraitRules.of({"t": strategy})
    split = data.draw(st.integers(0, len(delivery)))
    left = apply([{"t": ops} for ops in delivery[:split]], rules)
    right = apply([{"t": ops} for ops in delivery[split:]], rules)

    folded = fold_traits(left, right).get("t")

    everything = apply([{"t": ops} for ops in events], rules).get("t")
    assert folded == everything
    if folded is not None:
        assert fold(folded, folded) == folded


def test_trait_strategies_are_configured_as_json_in_the_environment(monkeypatch):
    monkeypatch.setenv("THREADLINE_TRAIT_STRATEGIES", '{"visits": "sum", "tags": "union"}')

    rules = TraitRules.of(Settings().trait_strategies)

    assert (rules.strategy("visits"), rules.strategy("tags"), rules.strategy("plan")) == (
        "sum",
        "union",
        "latest",
    )
    monkeypatch.setenv("THREADLINE_TRAIT_STRATEGIES", '{"visits": "add"}')
    with pytest.raises(ValidationError, match="'latest', 'first', 'max', 'min', 'sum' or 'union'"):
        Settings()
