"""Omnichannel Integration Index: components recomputed by brute force, and their direction."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.integration import (
    IndexSettings,
    IntegrationIndexError,
    Touch,
    integration_index,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ("web", "store", "call_center")
WINDOW = timedelta(days=7)


@st.composite
def touch_lists(draw: st.DrawFn) -> list[Touch]:
    count = draw(st.integers(1, 25))
    return [
        Touch(
            event_id=f"e{i}",
            customer_id=draw(st.sampled_from(["c1", "c2", "c3"])),
            channel=draw(st.sampled_from(CHANNELS)),
            at=START + timedelta(hours=draw(st.integers(0, 24 * 20))),
            identified=draw(st.booleans()),
        )
        for i in range(count)
    ]


def brute_force(touches: list[Touch]) -> dict[str, tuple[float, float | None]]:
    """Per channel: (identity coverage, continuity), straight from the definitions."""
    out = {}
    for channel in {t.channel for t in touches}:
        mine = [t for t in touches if t.channel == channel]
        coverage = sum(t.identified for t in mine) / len(mine)
        pairs = []
        for customer in {t.customer_id for t in touches}:
            path = sorted(
                (t for t in touches if t.customer_id == customer), key=lambda t: (t.at, t.event_id)
            )
            pairs += [
                (a, b)
                for a, b in itertools.pairwise(path)
                if a.channel != b.channel
                and b.at - a.at <= WINDOW
                and channel in (a.channel, b.channel)
            ]
        continuity = (
            sum(a.identified and b.identified for a, b in pairs) / len(pairs) if pairs else None
        )
        out[channel] = (coverage, continuity)
    return out


@given(touches=touch_lists())
def test_index_is_the_mean_of_channel_scores_built_from_coverage_and_continuity(touches):
    index = integration_index(touches)

    expected = brute_force(touches)
    assert {c.channel for c in index.channels} == set(expected)
    for channel in index.channels:
        coverage, continuity = expected[channel.channel]
        assert channel.components["identityCoverage"] == pytest.approx(coverage)
        assert channel.components["continuity"] == (
            None if continuity is None else pytest.approx(continuity)
        )
        parts = [coverage] + ([] if continuity is None else [continuity])
        assert channel.score == pytest.approx(100 * sum(parts) / len(parts))
    assert index.value == pytest.approx(sum(c.score for c in index.channels) / len(index.channels))
    assert index.target == 80


@given(touches=touch_lists(), data=st.data())
def test_identifying_a_touch_raises_its_channels_coverage_and_never_lowers_the_index(touches, data):
    anonymous = [i for i, t in enumerate(touches) if not t.identified]
    if not anonymous:
        return
    i = data.draw(st.sampled_from(anonymous))
    better = [*touches]
    better[i] = replace(touches[i], identified=True)

    before, after = integration_index(touches), integration_index(better)

    channel = touches[i].channel
    coverage = {c.channel: float(c.components["identityCoverage"] or 0) for c in before.channels}
    improved = {c.channel: float(c.components["identityCoverage"] or 0) for c in after.channels}
    assert improved[channel] > coverage[channel]
    assert after.value >= before.value


def test_a_handoff_that_loses_the_customer_lowers_continuity_on_both_channels():
    def journey(identified_in_store: bool) -> list[Touch]:
        return [
            Touch("e1", "c1", "web", START, True),
            Touch("e2", "c1", "store", START + timedelta(days=1), identified_in_store),
            Touch("e3", "c1", "web", START + timedelta(days=2), True),
        ]

    kept = integration_index(journey(True), settings=IndexSettings(weights={"continuity": 1}))
    lost = integration_index(journey(False), settings=IndexSettings(weights={"continuity": 1}))

    assert [c.components["continuity"] for c in kept.channels] == [1.0, 1.0]
    assert [c.components["continuity"] for c in lost.channels] == [0.0, 0.0]
    assert kept.value == 100 > lost.value == 0


def test_a_channel_slower_than_average_at_resolving_loses_service_parity():
    touches = [Touch("e1", "c1", "web", START, True), Touch("e2", "c2", "call_center", START, True)]

    index = integration_index(
        touches, {"web": 10.0, "call_center": 40.0}, overall_resolution_hours=20.0
    )

    parity = {c.channel: c.components["serviceParity"] for c in index.channels}
    assert parity == {"web": 1.0, "call_center": 0.5}


def test_weights_for_unknown_components_are_refused_with_the_known_names():
    with pytest.raises(IntegrationIndexError, match="identityCoverage, continuity, serviceParity"):
        IndexSettings(weights={"speed": 1.0})
