"""The segment condition language: what it accepts, and errors that name the bad node's path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.profile.domain.segment_schema import CONDITION_SCHEMA
from services.profile.domain.segments import (
    _NODE_KINDS,
    CHANNELS,
    COMPARISONS,
    TRAIT_OPERATORS,
    And,
    ConsentIs,
    EventsMatch,
    HasIdentity,
    Not,
    SegmentConditionError,
    parse_condition,
    parse_duration,
)


def problems(raw: object) -> dict[str, str]:
    with pytest.raises(SegmentConditionError) as caught:
        parse_condition(raw)
    return caught.value.problems


def test_documented_examples_parse_into_the_tree_they_describe():
    condition = parse_condition(
        {
            "and": [
                {"event": "Order Completed", "count": {"gte": 2}, "within": "P30D"},
                {"not": {"consent": "marketing", "status": ["denied", "revoked"]}},
                {"identity": "userId"},
            ]
        }
    )

    assert isinstance(condition, And)
    orders, no_denial, user = condition.items
    assert isinstance(orders, EventsMatch)
    assert orders == EventsMatch(
        "order_completed", orders.compare, timedelta(days=30), sum_of=None, by_channel=False
    )
    assert orders.compare.ops == (("gte", 2),)
    assert no_denial == Not(ConsentIs("marketing", frozenset({"denied", "revoked"})))
    assert user == HasIdentity("user_id")


def test_every_node_kind_of_the_language_is_accepted():
    parse_condition(
        {
            "or": [
                {"trait": "plan", "eq": "pro", "ne": "free", "in": ["pro"], "exists": True},
                {"trait": "age", "gt": 1, "gte": 1, "lt": 9, "lte": 9},
                {"trait": "name", "startsWith": "Jo", "contains": "o"},
                {"channelConsent": "email", "status": "granted"},
                {"event": "order_completed", "sum": {"property": "revenue", "gte": 100}},
                {"channel": "store", "within": "P2W"},
                {"journey": "onboarding", "stage": ["activated", "retained"]},
                {"score": "churnRisk", "gte": 0.7},
            ]
        }
    )


def test_errors_name_the_path_of_every_bad_node_and_how_to_fix_it():
    found = problems(
        {
            "and": [
                {"trait": "plan"},
                {"or": [{"event": "order_completed", "within": "P1M", "count": {"gte": "2"}}]},
                {"not": {"score": "nps", "above": 3}},
                {"channel": "fax"},
            ]
        }
    )

    assert set(found) == {
        "$.and[0]",
        "$.and[1].or[0].within",
        "$.and[1].or[0].count.gte",
        "$.and[2].not.above",
        "$.and[2].not",
        "$.and[3].channel",
    }
    assert "needs an operator" in found["$.and[0]"]
    assert "write days, e.g. P30D" in found["$.and[1].or[0].within"]
    assert found["$.and[1].or[0].count.gte"] == "must be a number"
    assert "unknown key" in found["$.and[2].not.above"]
    assert "one of" in found["$.and[3].channel"]


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        ([], "$", "must be a JSON object"),
        ({}, "$", "needs exactly one of"),
        ({"trait": "a", "event": "b"}, "$", "needs exactly one of"),
        ({"and": []}, "$.and", "non-empty list"),
        ({"not": "x"}, "$.not", "must be a JSON object"),
        ({"consent": "ads", "status": "yes"}, "$.status", "unknown; use"),
        ({"channelConsent": "fax", "status": "granted"}, "$.channelConsent", "unknown consent"),
        ({"event": "x", "count": {"gte": 1}, "sum": {"property": "r", "gte": 1}}, "$", "either"),
        ({"event": "x", "sum": {"gte": 1}}, "$.sum.property", "name the numeric"),
        ({"event": "!!!", "count": {"gte": 1}}, "$.event", "no letters"),
        ({"trait": "t", "in": "pro"}, "$.in", "list"),
        ({"trait": "t", "startsWith": 3}, "$.startsWith", "prefix"),
        ({"trait": "t", "exists": "yes"}, "$.exists", "true or false"),
        ({"journey": "j", "stage": []}, "$.stage", "non-empty list"),
        ({"score": "nps"}, "$", "at least one comparison"),
    ],
)
def test_each_kind_of_mistake_is_reported_at_its_path(raw, path, fragment):
    found = problems(raw)

    assert path in found, found
    assert fragment in found[path]


def test_message_lists_the_paths_so_a_graphql_caller_sees_them():
    with pytest.raises(SegmentConditionError, match=r"\$\.or\[1\]\.trait: must be a non-empty"):
        parse_condition({"or": [{"identity": "email"}, {"trait": "", "eq": 1}]})


def test_nesting_is_bounded():
    deep: dict[str, object] = {"identity": "email"}
    for _ in range(40):
        deep = {"not": deep}

    assert any("nest at most" in problem for problem in problems(deep).values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("P2W", timedelta(weeks=2)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_durations_are_iso_8601_without_months_or_years(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1Y", "P2M", "30D", "P", "PT", "P0D", "P1.5D"])
def test_durations_without_a_fixed_positive_length_are_refused(text):
    with pytest.raises(ValueError, match=r"P30D|zero"):
        parse_duration(text)


def test_json_schema_lists_exactly_the_parsers_node_kinds_and_operators():
    defs = CONDITION_SCHEMA["$defs"]
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in defs["condition"]["oneOf"]}

    assert kinds == set(_NODE_KINDS)
    assert set(defs["trait"]["properties"]) - {"trait"} == set(TRAIT_OPERATORS)
    assert set(defs["score"]["properties"]) - {"score"} == set(COMPARISONS)
    assert defs["channel"]["properties"]["channel"]["enum"] == sorted(CHANNELS)


def test_schema_examples_parse_and_the_schema_admits_what_the_parser_admits():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(CONDITION_SCHEMA)
    accepted = [
        *CONDITION_SCHEMA["examples"],
        {"trait": "age", "gte": 18, "lt": 65},
        {"event": "product_viewed"},
        {"journey": "onboarding", "stage": ["a", "b"]},
    ]
    refused = [{"trait": "plan"}, {"or": []}, {"event": "x", "within": "P1Y"}, {"score": "nps"}]

    for example in accepted:
        parse_condition(example)
        validator.validate(example)
    for bad in refused:
        assert not validator.is_valid(bad), bad
