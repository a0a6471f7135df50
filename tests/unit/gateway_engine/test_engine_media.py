"""Abstract types across subgraphs: entity interfaces, @interfaceObject, unions whose members
differ per subgraph, @override, composite nested keys, shareable root fields."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import make_engine, plan_of, run
from tests.unit.gateway_engine.engine_media import make_media
from tests.unit.gateway_engine.engine_subgraph import Subgraph

ENTITY = "query($representations:[_Any!]!){_entities(representations:$representations)"


@pytest.fixture
def media() -> dict[str, Subgraph]:
    return make_media()


@pytest.fixture
def engine(media: dict[str, Subgraph]) -> FederationEngine:
    return make_engine("media", media)


def shape(plan: list[list[dict[str, Any]]]) -> list[tuple[str, list[Any], list[int]]]:
    return [(f["subgraph"], f["path"], f["dependsOn"]) for step in plan for f in step]


async def test_interface_object_fields_join_concrete_types_by_interface_key(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    query = "{ media { id title stars } }"
    plan = plan_of(engine, query)
    assert shape(plan) == [("catalog", [], []), ("ratings", ["media"], [0])]
    assert plan[0][1]["operation"] == ENTITY + "{...on Media{__typename stars}}}"

    result = await run(engine, query)

    assert result == {
        "data": {
            "media": [
                {"id": "b1", "title": "Dune", "stars": 5},
                {"id": "m1", "title": "Alien", "stars": 4},
                {"id": "b2", "title": "Emma", "stars": 3},
            ]
        }
    }
    reps = media["ratings"].requests[0]["variables"]["representations"]
    assert reps == [
        {"__typename": "Media", "id": "b1"},
        {"__typename": "Media", "id": "m1"},
        {"__typename": "Media", "id": "b2"},
    ]


async def test_interface_object_root_resolves_concrete_types_from_the_owner(
    engine: FederationEngine,
) -> None:
    query = (
        "{ topRated { id stars __typename title ... on Book { pages } ... on Movie { minutes } } }"
    )
    assert shape(plan_of(engine, query)) == [
        ("ratings", [], []),
        ("catalog", ["topRated"], [0]),
        ("library", ["topRated"], [1]),
    ]

    result = await run(engine, query)

    assert result == {
        "data": {
            "topRated": [
                {"id": "m1", "stars": 4, "__typename": "Movie", "title": "Alien", "minutes": 117},
                {"id": "b1", "stars": 5, "__typename": "Book", "title": "Dune", "pages": 412},
            ]
        }
    }


async def test_union_members_missing_from_a_subgraph_are_not_asked_of_it(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    query = """{ librarySearch { __typename
        ... on Book { title loans } ... on Magazine { issue } ... on Movie { minutes } } }"""
    plan = plan_of(engine, query)
    assert shape(plan) == [("library", [], []), ("catalog", ["librarySearch"], [0])]
    assert "Movie" not in plan[0][0]["operation"]

    result = await run(engine, query)

    assert result == {
        "data": {
            "librarySearch": [
                {"__typename": "Book", "title": "Dune", "loans": 7},
                {"__typename": "Magazine", "issue": 42},
            ]
        }
    }


async def test_union_type_conditions_follow_typename_into_entity_fetches(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    result = await run(
        engine, "{ search { ... on Book { title loans } ... on Movie { title stars } } }"
    )

    assert result == {
        "data": {"search": [{"title": "Alien", "stars": 4}, {"title": "Emma", "loans": 2}]}
    }
    assert media["library"].requests[0]["variables"]["representations"] == [
        {"__typename": "Book", "id": "b2"}
    ]
    assert media["ratings"].requests[0]["variables"]["representations"] == [
        {"__typename": "Media", "id": "m1"}
    ]


async def test_overridden_field_is_fetched_from_the_overriding_subgraph(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    result = await run(engine, '{ book(id: "b1") { title pages } }')

    assert result == {"data": {"book": {"title": "Dune", "pages": 412}}}
    assert all("pages" not in q for q in media["catalog"].queries())


async def test_composite_nested_key_builds_nested_representation(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    result = await run(engine, '{ book(id: "b2") { title location { room capacity } } }')

    assert result == {
        "data": {"book": {"title": "Emma", "location": {"room": "room-b2", "capacity": 10}}}
    }
    assert media["library"].requests[0]["variables"]["representations"] == [
        {"__typename": "Location", "building": {"id": "main"}, "room": "room-b2"}
    ]


async def test_interface_fields_common_to_a_subgraph_are_selected_on_the_interface(
    engine: FederationEngine,
) -> None:
    plan = plan_of(engine, "{ media { id title } }")
    assert plan[0][0]["operation"] == "query{media{__typename id title}}"


async def test_inaccessible_elements_are_not_in_the_api_schema(engine: FederationEngine) -> None:
    book = engine.api_schema.get_type("Book")
    assert book is not None
    assert "secretShelf" not in book.fields  # type: ignore[attr-defined]
    assert not any(name.startswith(("join__", "link__")) for name in engine.api_schema.type_map)
    assert engine.api_schema.get_directive("join__field") is None


@pytest.mark.parametrize(
    ("selection", "plan"),
    [
        # library has Money without currency: only catalog can serve the whole value type
        ("loans price { amount currency }", [("catalog", [], []), ("library", ["book"], [0])]),
        ("loans price { amount }", [("library", [], [])]),
    ],
)
async def test_value_type_split_across_subgraphs_picks_the_subgraph_that_has_it_all(
    engine: FederationEngine, selection: str, plan: list[tuple[str, list[Any], list[int]]]
) -> None:
    query = f'{{ book(id: "b1") {{ {selection} }} }}'
    assert shape(plan_of(engine, query)) == plan

    result = await run(engine, query)

    price = {"amount": 10, "currency": "EUR"} if "currency" in selection else {"amount": 10}
    assert result == {"data": {"book": {"loans": 7, "price": price}}}


async def test_local_field_whose_value_type_is_incomplete_here_is_fetched_whole_elsewhere(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    query = "{ librarySearch { ... on Book { loans price { amount currency } } } }"
    plan = plan_of(engine, query)
    assert shape(plan) == [("library", [], []), ("catalog", ["librarySearch"], [0])]
    assert "price" not in plan[0][0]["operation"]

    result = await run(engine, query)

    assert result == {
        "data": {"librarySearch": [{"loans": 7, "price": {"amount": 10, "currency": "EUR"}}, {}]}
    }


async def test_interface_object_fetch_merges_only_what_each_runtime_type_asked_for(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    # ratings answers Book and Movie alike (as Media): Book's `n` must not overwrite
    # the Movie's `n`, which comes from catalog.
    query = "{ media { ... on Book { n: stars } ... on Movie { n: minutes } } }"

    result = await run(engine, query)

    assert result == {"data": {"media": [{"n": 5}, {"n": 117}, {"n": 3}]}}


async def test_interface_object_fields_under_one_key_per_runtime_type_get_their_own_fetch(
    engine: FederationEngine, media: dict[str, Subgraph]
) -> None:
    query = "{ media { ... on Book { n: stars } ... on Movie { n: votes } } }"
    plan = plan_of(engine, query)
    assert [(f["subgraph"], f["path"], f["dependsOn"]) for step in plan for f in step] == [
        ("catalog", [], []),
        ("ratings", ["media"], [0]),
        ("ratings", ["media"], [0]),
    ]

    result = await run(engine, query)

    assert result == {"data": {"media": [{"n": 5}, {"n": 40}, {"n": 3}]}}
    sent = [r["variables"]["representations"] for r in media["ratings"].requests]
    assert sorted(sent, key=len) == [
        [{"__typename": "Media", "id": "m1"}],
        [{"__typename": "Media", "id": "b1"}, {"__typename": "Media", "id": "b2"}],
    ]
