"""Plans and results over the shop graph: keys, several keys, @requires chains, @provides,
@shareable root fields, aliases, fragments, variables and @skip/@include."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import make_engine, plan_of, run
from tests.unit.gateway_engine.engine_shop import make_shop
from tests.unit.gateway_engine.engine_subgraph import Subgraph

ENTITY = "query($representations:[_Any!]!){_entities(representations:$representations)"


@pytest.fixture
def shop() -> dict[str, Subgraph]:
    return make_shop()


@pytest.fixture
def engine(shop: dict[str, Subgraph]) -> FederationEngine:
    return make_engine("shop", shop)


def shape(plan: list[list[dict[str, Any]]]) -> list[tuple[str, list[Any], list[int]]]:
    return [(f["subgraph"], f["path"], f["dependsOn"]) for step in plan for f in step]


async def test_requires_chain_across_three_subgraphs_sequences_fetches(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    query = '{ topProducts(first: 2) { name shippingEstimate(zone: "EU") } }'
    plan = plan_of(engine, query)
    assert shape(plan) == [
        ("products", [], []),
        ("pricing", ["topProducts"], [0]),
        ("inventory", ["topProducts"], [0, 1]),
    ]
    ops = [f["operation"] for f in plan[0]]
    assert ops[0] == (
        "query{topProducts(first:2){__typename name __k_upc:upc __k_weight:weight "
        "__k_sku:sku __k_price:price}}"
    )
    assert ops[1] == ENTITY + "{...on Product{__typename __k_discount:discount}}}"
    assert ops[2] == ENTITY + '{...on Product{__typename shippingEstimate(zone:"EU")}}}'

    result = await run(engine, query)

    assert result == {
        "data": {
            "topProducts": [
                {"name": "Table", "shippingEstimate": (10 + 10) * 2},
                {"name": "Couch", "shippingEstimate": (20 + 20) * 2},
            ]
        }
    }
    inventory_reps = shop["inventory"].requests[0]["variables"]["representations"]
    assert inventory_reps == [
        {"__typename": "Product", "upc": "1", "weight": 10, "discount": 10},
        {"__typename": "Product", "upc": "2", "weight": 20, "discount": 20},
    ]


async def test_requires_with_nested_selection_sends_the_nested_object(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    result = await run(engine, '{ product(upc: "2") { volume inStock } }')

    assert result == {"data": {"product": {"volume": 20, "inStock": True}}}
    assert len(shop["inventory"].requests) == 1  # both fields in one entity fetch
    assert shop["inventory"].requests[0]["variables"]["representations"] == [
        {"__typename": "Product", "upc": "2", "dimensions": {"width": 4, "height": 5}}
    ]


async def test_second_key_is_fetched_from_a_third_subgraph_before_the_jump(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    query = "{ inStockProducts { discount } }"
    assert shape(plan_of(engine, query)) == [
        ("inventory", [], []),
        ("products", ["inStockProducts"], [0]),
        ("pricing", ["inStockProducts"], [0, 1]),
    ]

    result = await run(engine, query)

    assert result == {"data": {"inStockProducts": [{"discount": 10}]}}
    assert shop["pricing"].requests[0]["variables"]["representations"] == [
        {"__typename": "Product", "sku": "s1", "price": 100}
    ]


async def test_provided_field_needs_no_fetch_to_its_owner(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    query = "{ topProducts(first: 1) { reviews { author { username } } } }"
    assert [s for s, _, _ in shape(plan_of(engine, query))] == ["products", "reviews"]

    result = await run(engine, query)

    assert result == {
        "data": {
            "topProducts": [
                {"reviews": [{"author": {"username": "ada"}}, {"author": {"username": "bob"}}]}
            ]
        }
    }
    assert shop["accounts"].requests == []


async def test_entity_representations_are_deduplicated_per_fetch(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    result = await run(engine, "{ topProducts { reviews { author { name } } } }")

    reviews = [r["reviews"] for r in result["data"]["topProducts"]]
    assert reviews == [
        [{"author": {"name": "Ada Lovelace"}}, {"author": {"name": "Bob Builder"}}],
        [{"author": {"name": "Ada Lovelace"}}],
        [],
    ]
    assert len(shop["accounts"].requests) == 1
    assert shop["accounts"].requests[0]["variables"]["representations"] == [
        {"__typename": "User", "id": "u1"},
        {"__typename": "User", "id": "u2"},
    ]


@pytest.mark.parametrize(
    ("selection", "subgraph"),
    [("name", "accounts"), ("reviews { body }", "reviews"), ("id", "accounts")],
)
async def test_shareable_root_field_goes_where_fewest_fetches_are_needed(
    engine: FederationEngine, selection: str, subgraph: str
) -> None:
    plan = plan_of(engine, f'{{ user(id: "u2") {{ {selection} }} }}')
    assert [s for s, _, _ in shape(plan)] == [subgraph]


async def test_independent_root_fields_run_as_parallel_fetches(
    engine: FederationEngine,
) -> None:
    plan = plan_of(
        engine, '{ me { name } topProducts(first: 1) { name } review(id: "r1") { body } }'
    )
    assert shape(plan) == [("accounts", [], []), ("products", [], []), ("reviews", [], [])]

    result = await run(engine, "{ me { name } topProducts(first: 1) { name } }")

    assert result == {"data": {"me": {"name": "Ada Lovelace"}, "topProducts": [{"name": "Table"}]}}


async def test_aliases_colliding_with_key_fields_are_kept_apart(
    engine: FederationEngine,
) -> None:
    query = "{ topProducts(first: 2) { upc: name name: upc sku: inStock } }"

    result = await run(engine, query)

    assert result == {
        "data": {
            "topProducts": [
                {"upc": "Table", "name": "1", "sku": True},
                {"upc": "Couch", "name": "2", "sku": True},
            ]
        }
    }


async def test_fragments_variables_and_defaults_send_only_used_variables(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    query = """
      query Shop($n: Int = 1, $zone: String, $user: ID!) {
        topProducts(first: $n) { ...Basics ... on Product { shippingEstimate(zone: $zone) } }
        user(id: $user) { name }
      }
      fragment Basics on Product { name }
    """

    result = await run(engine, query, {"zone": "EU", "user": "u1"})

    assert result == {
        "data": {
            "topProducts": [{"name": "Table", "shippingEstimate": 40}],
            "user": {"name": "Ada Lovelace"},
        }
    }
    products = shop["products"].requests[0]
    assert products["query"].startswith("query Shop__products__0($n:Int)")
    assert products["variables"] == {"n": 1}
    inventory = shop["inventory"].requests[0]
    assert inventory["query"].startswith(
        "query Shop__inventory__2($representations:[_Any!]!,$zone:String)"
    )
    assert set(inventory["variables"]) == {"representations", "zone"}
    assert shop["accounts"].requests[0]["variables"] == {"user": "u1"}


@pytest.mark.parametrize("with_stock", [True, False])
async def test_skip_and_include_by_variable_decide_what_is_fetched(
    engine: FederationEngine, shop: dict[str, Subgraph], with_stock: bool
) -> None:
    query = """query($s: Boolean!) {
      topProducts(first: 1) { name inStock @include(if: $s) reviews @skip(if: true) { body } }
    }"""

    result = await run(engine, query, {"s": with_stock})

    expected: dict[str, Any] = {"name": "Table"}
    if with_stock:
        expected["inStock"] = True
    assert result == {"data": {"topProducts": [expected]}}
    assert len(shop["inventory"].requests) == (1 if with_stock else 0)
    assert shop["reviews"].requests == []


async def test_plans_are_cached_per_document_and_condition_values(
    engine: FederationEngine,
) -> None:
    query = "query($s: Boolean!) { topProducts { name inStock @include(if: $s) } }"
    await run(engine, query, {"s": True})
    await run(engine, query, {"s": True})
    await run(engine, query, {"s": False})

    assert (engine.stats.plan_cache_misses, engine.stats.plan_cache_hits) == (2, 1)


async def test_typename_is_answered_everywhere(engine: FederationEngine) -> None:
    result = await run(
        engine,
        "{ __typename me { __typename t: __typename } topProducts(first: 1) { __typename } }",
    )

    assert result == {
        "data": {
            "__typename": "Query",
            "me": {"__typename": "User", "t": "User"},
            "topProducts": [{"__typename": "Product"}],
        }
    }
