"""Errors and nulls: subgraph errors re-pathed, spec null propagation, failures, mutations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.engine import GraphQLRequest, RequestError
from gateway.federation_engine import FederationEngine
from tests.unit.gateway_engine.engine_harness import make_engine, run
from tests.unit.gateway_engine.engine_shop import make_shop
from tests.unit.gateway_engine.engine_subgraph import Subgraph


@pytest.fixture
def shop() -> dict[str, Subgraph]:
    return make_shop()


@pytest.fixture
def engine(shop: dict[str, Subgraph]) -> FederationEngine:
    return make_engine("shop", shop)


async def test_entity_error_is_repathed_to_the_client_path(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    original = shop["reviews"].entities["Product"]

    def failing(rep: dict[str, Any]) -> Any:
        return ValueError("reviews store offline") if rep["upc"] == "2" else original(rep)

    shop["reviews"].entities["Product"] = failing

    result = await run(engine, "{ topProducts(first: 2) { name reviews { body } } }")

    assert result["data"] == {
        "topProducts": [
            {"name": "Table", "reviews": [{"body": "Love it"}, {"body": "Too big"}]},
            {"name": "Couch", "reviews": None},
        ]
    }
    assert result["errors"] == [
        {
            "message": "reviews store offline",
            "path": ["topProducts", 1],
            "extensions": {"code": "DOWNSTREAM_SERVICE_ERROR", "serviceName": "reviews"},
        }
    ]


async def test_nested_entity_field_error_is_repathed_for_every_occurrence(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    original = shop["accounts"].entities["User"]

    def partly(rep: dict[str, Any]) -> Any:
        user = original(rep)
        if rep["id"] == "u1":
            assert user is not None
            user["name"] = ValueError("name hidden")
        return user

    shop["accounts"].entities["User"] = partly

    result = await run(engine, "{ topProducts(first: 2) { reviews { author { name } } } }")

    assert result["data"] == {
        "topProducts": [
            {"reviews": [{"author": {"name": None}}, {"author": {"name": "Bob Builder"}}]},
            {"reviews": [{"author": {"name": None}}]},
        ]
    }
    assert [e["path"] for e in result["errors"]] == [
        ["topProducts", 0, "reviews", 0, "author", "name"],
        ["topProducts", 1, "reviews", 0, "author", "name"],
    ]
    assert {e["extensions"]["serviceName"] for e in result["errors"]} == {"accounts"}


async def test_entity_resolving_to_null_nulls_its_fields(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    shop["inventory"].root["inStockProducts"] = lambda _i: [
        {"__typename": "Product", "upc": "1"},
        {"__typename": "Product", "upc": "999"},
    ]

    result = await run(engine, "{ inStockProducts { upc name } }")

    assert result == {
        "data": {"inStockProducts": [{"upc": "1", "name": "Table"}, {"upc": "999", "name": None}]}
    }


async def test_null_in_non_null_field_bubbles_to_nearest_nullable_parent(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    shop["inventory"].root["inStockProducts"] = lambda _i: [
        {"__typename": "Product", "upc": "1"},
        {"__typename": "Product", "upc": "999"},
    ]

    result = await run(engine, "{ inStockProducts { upc sku } }")

    assert result == {
        "data": {"inStockProducts": [{"upc": "1", "sku": "s1"}, None]},
        "errors": [
            {
                "message": "Cannot return null for non-nullable field Product.sku.",
                "path": ["inStockProducts", 1, "sku"],
            }
        ],
    }


async def test_failed_subgraph_becomes_an_error_with_service_name_at_the_entity_path(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    shop["inventory"].fail_with_status = 500

    result = await run(engine, "{ topProducts(first: 1) { name inStock } }")

    assert result["data"] == {"topProducts": [{"name": "Table", "inStock": None}]}
    assert result["errors"] == [
        {
            "message": "HTTP fetch failed from 'inventory': 500 Internal Server Error",
            "path": ["topProducts", 0],
            "extensions": {
                "code": "SUBREQUEST_HTTP_ERROR",
                "serviceName": "inventory",
                "http": {"status": 500},
            },
        }
    ]
    assert engine.stats.fetch_errors == {"inventory": 1}


async def test_root_mutation_fields_run_serially_in_document_order(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    journal: list[str] = []
    for subgraph in shop.values():
        subgraph.journal = journal
    query = """mutation {
      first: login(username: "bob") { name }
      added: addReview(upc: "1", body: "New one") { body product { name } }
      again: login(username: "ada") { id }
    }"""

    result = await run(engine, query)

    assert result == {
        "data": {
            "first": {"name": "Bob Builder"},
            "added": {"body": "New one", "product": {"name": "Table"}},
            "again": {"id": "u1"},
        }
    }
    assert journal == ["accounts", "reviews", "products", "accounts"]
    assert shop["reviews"].requests[0]["query"].startswith("mutation{added:addReview(")


async def test_invalid_and_inaccessible_selections_are_request_errors(
    engine: FederationEngine,
) -> None:
    with pytest.raises(RequestError) as caught:
        engine.prepare(GraphQLRequest(query="{ topProducts { internalCode } }"))
    assert "internalCode" in caught.value.errors[0]["message"]
    with pytest.raises(RequestError):
        engine.prepare(GraphQLRequest(query="{ topProducts { "))


async def test_bad_variables_are_request_errors(engine: FederationEngine) -> None:
    query = "query($n: Int!) { topProducts(first: $n) { name } }"
    with pytest.raises(RequestError) as caught:
        await run(engine, query, {"n": "many"})
    assert "$n" in caught.value.errors[0]["message"]


async def test_identical_in_flight_subgraph_requests_share_one_call(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    async def slow_me(_info: Any) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"__typename": "User", "id": "u1", "name": "Ada Lovelace"}

    shop["accounts"].root["me"] = slow_me

    first, second = await asyncio.gather(
        run(engine, "{ me { name } }"), run(engine, "{ me { name } }")
    )

    assert first == second == {"data": {"me": {"name": "Ada Lovelace"}}}
    assert len(shop["accounts"].requests) == 1


async def test_independent_fetches_are_in_flight_at_the_same_time(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    # Each root resolver waits for the other to start: run one after the other, they time out.
    started = {"me": asyncio.Event(), "top": asyncio.Event()}

    async def me(_info: Any) -> dict[str, Any]:
        started["me"].set()
        await asyncio.wait_for(started["top"].wait(), 2)
        return {"__typename": "User", "id": "u1", "name": "Ada Lovelace"}

    async def top(_info: Any, first: int = 5) -> list[dict[str, Any]]:
        started["top"].set()
        await asyncio.wait_for(started["me"].wait(), 2)
        return [{"__typename": "Product", "upc": "1", "name": "Table"}]

    shop["accounts"].root["me"] = me
    shop["products"].root["topProducts"] = top

    result = await run(engine, "{ me { name } topProducts { name } }")

    assert result == {"data": {"me": {"name": "Ada Lovelace"}, "topProducts": [{"name": "Table"}]}}


async def test_subgraph_null_propagation_and_its_error_pass_through_repathed(
    engine: FederationEngine, shop: dict[str, Subgraph]
) -> None:
    original = shop["reviews"].entities["Product"]

    def without_body(rep: dict[str, Any]) -> Any:
        product = original(rep)
        for review in product["reviews"][1:]:
            review["body"] = None  # non-null in the subgraph: it nulls the review itself
        return product

    shop["reviews"].entities["Product"] = without_body

    result = await run(engine, "{ topProducts(first: 1) { name reviews { id body } } }")

    assert result["data"] == {
        "topProducts": [{"name": "Table", "reviews": [{"id": "r1", "body": "Love it"}, None]}]
    }
    assert [(e["path"], e["extensions"]["serviceName"]) for e in result["errors"]] == [
        (["topProducts", 0, "reviews", 1, "body"], "reviews")
    ]
