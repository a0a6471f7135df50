from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.profile.domain.traits import (
    ConsentState,
    TraitValue,
    consent_statements,
    merge_consents,
    merge_traits,
)

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_later_event_overwrites_a_trait_with_its_provenance():
    traits, _ = merge_traits({}, {"plan": "free"}, source="web-key", channel="web", at=T0)
    later = T0 + timedelta(hours=1)

    merged, changed = merge_traits(traits, {"plan": "pro"}, source="crm", channel="other", at=later)

    assert merged["plan"].value == "pro"
    assert (merged["plan"].source, merged["plan"].channel, merged["plan"].updated_at) == (
        "crm",
        "other",
        later,
    )
    assert set(changed) == {"plan"}


def test_late_event_never_overwrites_a_newer_value():
    traits, _ = merge_traits({}, {"plan": "pro"}, source="s", channel="web", at=T0)

    merged, changed = merge_traits(
        traits, {"plan": "free", "city": "Leeds"}, source="s", channel="store", at=T0 - timedelta(1)
    )

    assert merged["plan"].value == "pro"
    assert merged["city"].value == "Leeds"  # unknown before: a late value still fills it
    assert set(changed) == {"city"}


def test_untouched_traits_survive_a_merge():
    traits, _ = merge_traits({}, {"a": 1, "b": 2}, source="s", channel="web", at=T0)

    merged, _ = merge_traits(traits, {"b": 3}, source="s", channel="web", at=T0 + timedelta(1))

    assert {name: t.value for name, t in merged.items()} == {"a": 1, "b": 3}


def test_consent_follows_the_latest_statement_per_purpose():
    granted = consent_statements({"categoryPreferences": {"ads": True}}, source="s", at=T0)
    revoked = consent_statements(
        {"categoryPreferences": {"ads": False}}, source="s", at=T0 + timedelta(minutes=5)
    )

    state, _ = merge_consents({}, revoked)
    state, changed = merge_consents(state, granted)  # the older grant arrives late

    assert state["ads"] == ConsentState("ads", False, T0 + timedelta(minutes=5), "s")
    assert changed == {}


def test_consent_statements_ignore_non_boolean_preferences():
    statements = consent_statements(
        {"categoryPreferences": {"ads": "yes", "analytics": True}}, source="s", at=T0
    )

    assert list(statements) == ["analytics"]


trait_events = st.lists(
    st.tuples(
        st.dictionaries(
            st.sampled_from(["plan", "city", "email", "tier"]),
            st.one_of(st.integers(0, 3), st.sampled_from(["x", "y"]), st.none()),
            max_size=3,
        ),
        st.sampled_from(["src-a", "src-b"]),
        st.sampled_from(["web", "store"]),
        st.integers(0, 5).map(lambda minutes: T0 + timedelta(minutes=minutes)),
    ),
    max_size=8,
)


@given(trait_events, st.randoms())
def test_applying_the_same_events_in_any_order_gives_the_same_traits(events, random):
    shuffled = list(events)
    random.shuffle(shuffled)

    def fold(sequence: list[Any]) -> dict[str, TraitValue]:
        traits: dict[str, TraitValue] = {}
        for values, source, channel, when in sequence:
            traits, _ = merge_traits(traits, values, source=source, channel=channel, at=when)
        return traits

    assert fold(events) == fold(shuffled)


@given(trait_events)
def test_each_trait_holds_a_value_from_its_latest_event(events):
    traits: dict[str, TraitValue] = {}
    for values, source, channel, when in events:
        traits, _ = merge_traits(traits, values, source=source, channel=channel, at=when)

    for name, trait in traits.items():
        times = [when for values, _, _, when in events if name in values]
        assert trait.updated_at == max(times)
