"""Queries and mutations across the three subgraphs, through the gateway over real HTTP."""

from __future__ import annotations

import hashlib

import httpx
import orjson
import pytest

from tests.integration.gateway_e2e.e2e_client import GRAPHQL_RESPONSE, bearer, post
from tests.integration.gateway_e2e.e2e_stack import Gateway, Subgraphs

pytestmark = pytest.mark.slow

TOP_PRODUCTS = """
query TopProducts($first: Int!) {
  topProducts(first: $first) {
    upc
    name
    price
    shippingEstimate
    reviews { id body author { id name username } }
  }
}
"""


async def test_query_joins_products_reviews_and_accounts_in_one_response(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    response = await post(client, gateway.url, TOP_PRODUCTS, {"first": 2})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {
        "data": {
            "topProducts": [
                {
                    "upc": "p1",
                    "name": "Table",
                    "price": 899,
                    "shippingEstimate": 10,
                    "reviews": [
                        {
                            "id": "r1",
                            "body": "Love it",
                            "author": {"id": "1", "name": "Ada Lovelace", "username": "ada"},
                        },
                        {
                            "id": "r2",
                            "body": "Too big",
                            "author": {"id": "2", "name": "Alan Turing", "username": "alan"},
                        },
                    ],
                },
                {
                    "upc": "p2",
                    "name": "Couch",
                    "price": 1299,
                    "shippingEstimate": 50,
                    "reviews": [
                        {
                            "id": "r3",
                            "body": "Could be softer",
                            "author": {"id": "3", "name": "Grace Hopper", "username": "grace"},
                        }
                    ],
                },
            ]
        }
    }
    # One fetch per subgraph: the @requires weight rides on the root fetch, and the three
    # authors are resolved in one batched _entities call.
    assert [len(s.log.http) for s in subgraphs.all] == [1, 1, 1]
    (accounts_call,) = subgraphs.accounts.log.http
    representations = accounts_call.body["variables"]["representations"]  # type: ignore[index]
    assert sorted(r["id"] for r in representations) == ["1", "2", "3"]
    (reviews_call,) = subgraphs.reviews.log.http
    reps = reviews_call.body["variables"]["representations"]  # type: ignore[index]
    assert {(r["upc"], r["weight"]) for r in reps} == {("p1", 100), ("p2", 1000)}


async def test_aliases_fragments_and_variables_shape_the_response_end_to_end(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    query = """
    query Shop($upc: String!, $withReviews: Boolean!, $skipPrice: Boolean = true) {
      cheap: product(upc: $upc) { ...Card price @skip(if: $skipPrice) }
      bestseller: product(upc: "p1") {
        title: name
        ... on Product {
          reviews @include(if: $withReviews) { text: body by: author { handle: username } }
        }
      }
    }
    fragment Card on Product { upc name shippingEstimate }
    """
    response = await post(
        client, gateway.url, query, {"upc": "p3", "withReviews": True}, operation_name="Shop"
    )

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "cheap": {"upc": "p3", "name": "Chair", "shippingEstimate": 5},
            "bestseller": {
                "title": "Table",
                "reviews": [
                    {"text": "Love it", "by": {"handle": "ada"}},
                    {"text": "Too big", "by": {"handle": "alan"}},
                ],
            },
        }
    }


CARD = """
query Card($upc: String!, $withReviews: Boolean!) {
  product(upc: $upc) {
    name
    reviews @include(if: $withReviews) { body author { name } }
  }
}
"""


async def test_skipped_fields_are_never_fetched_from_their_subgraphs(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    response = await post(client, gateway.url, CARD, {"upc": "p3", "withReviews": False})

    assert response.json() == {"data": {"product": {"name": "Chair"}}}
    assert len(subgraphs.products.log.http) == 1
    assert subgraphs.reviews.log.seen == []
    assert subgraphs.accounts.log.seen == []


async def test_included_fields_are_fetched_with_the_same_document(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    await post(client, gateway.url, CARD, {"upc": "p3", "withReviews": False})
    response = await post(client, gateway.url, CARD, {"upc": "p3", "withReviews": True})

    assert response.json() == {
        "data": {
            "product": {
                "name": "Chair",
                "reviews": [{"body": "Sturdy", "author": {"name": "Ada Lovelace"}}],
            }
        }
    }
    assert len(subgraphs.reviews.log.http) == 1
    assert len(subgraphs.accounts.log.http) == 1


async def test_typename_is_answered_at_every_level(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    query = """
    {
      __typename
      product(upc: "p2") { __typename reviews { __typename author { __typename name } } }
    }
    """
    response = await post(client, gateway.url, query)

    assert response.json() == {
        "data": {
            "__typename": "Query",
            "product": {
                "__typename": "Product",
                "reviews": [
                    {
                        "__typename": "Review",
                        "author": {"__typename": "User", "name": "Grace Hopper"},
                    }
                ],
            },
        }
    }


async def test_get_requests_run_queries_too(gateway: Gateway, client: httpx.AsyncClient) -> None:
    response = await client.get(
        gateway.url,
        params={
            "query": "query One($upc: String!) { product(upc: $upc) { name } }",
            "variables": '{"upc": "p1"}',
        },
        headers={"accept": GRAPHQL_RESPONSE, **bearer()},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"product": {"name": "Table"}}}


async def test_mutation_fields_run_in_order_across_subgraphs(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    mutation = """
    mutation Rename {
      renamed: renameUser(id: "2", name: "Alan M. Turing") { name }
      addReview(upc: "p3", authorId: "2", body: "Wobbly") {
        body author { name } product { name reviews { body } }
      }
    }
    """
    response = await post(client, gateway.url, mutation)

    assert response.json() == {
        "data": {
            "renamed": {"name": "Alan M. Turing"},
            "addReview": {
                "body": "Wobbly",
                # Resolved after renameUser finished: root mutation fields run serially.
                "author": {"name": "Alan M. Turing"},
                "product": {"name": "Chair", "reviews": [{"body": "Sturdy"}, {"body": "Wobbly"}]},
            },
        }
    }
    rename = next(r for r in subgraphs.accounts.log.http if "renameUser" in r.query)
    add = next(r for r in subgraphs.reviews.log.http if "addReview" in r.query)
    assert rename.arrival < add.arrival


async def test_invalid_operations_are_refused_with_400_before_any_subgraph_call(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    unknown_field = await post(client, gateway.url, '{ product(upc: "p1") { colour } }')
    bad_variable = await post(client, gateway.url, TOP_PRODUCTS, {"first": "two"})

    assert unknown_field.status_code == 400
    assert "colour" in unknown_field.json()["errors"][0]["message"]
    assert "data" not in unknown_field.json()
    assert bad_variable.status_code == 400
    assert "$first" in bad_variable.json()["errors"][0]["message"]
    assert subgraphs.requests_seen() == 0


async def test_missing_entities_become_null_with_the_rest_of_the_response_intact(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    query = '{ product(upc: "nope") { name } review(id: "r4") { body product { name } } }'
    response = await post(client, gateway.url, query)

    assert response.status_code == 200
    assert response.json() == {
        "data": {"product": None, "review": {"body": "Sturdy", "product": {"name": "Chair"}}}
    }


async def test_an_entity_referenced_twice_is_sent_once_in_the_batch(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    response = await post(
        client, gateway.url, "{ topProducts(first: 3) { reviews { author { name } } } }"
    )

    authors = [
        r["author"]["name"] for p in response.json()["data"]["topProducts"] for r in p["reviews"]
    ]
    assert authors == ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Ada Lovelace"]
    (call,) = subgraphs.accounts.log.http
    representations = call.body["variables"]["representations"]  # type: ignore[index]
    assert sorted(r["id"] for r in representations) == ["1", "2", "3"]


async def test_automatic_persisted_queries_run_by_hash_after_registration(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    query = '{ product(upc: "p2") { name reviews { author { name } } } }'
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    headers = {"accept": GRAPHQL_RESPONSE, **bearer()}

    unknown = await client.post(gateway.url, json={"extensions": extensions}, headers=headers)
    registered = await client.post(
        gateway.url, json={"query": query, "extensions": extensions}, headers=headers
    )
    by_hash = await client.get(
        gateway.url,
        params={"extensions": orjson.dumps(extensions).decode()},
        headers=headers,
    )

    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    expected = {
        "data": {"product": {"name": "Couch", "reviews": [{"author": {"name": "Grace Hopper"}}]}}
    }
    assert registered.json() == expected
    assert by_hash.status_code == 200
    assert by_hash.json() == expected
    assert len(subgraphs.products.log.http) == 2


async def test_variables_reach_arguments_of_fields_resolved_in_entity_fetches(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    query = """
    query FirstReview($upc: String!, $n: Int) {
      product(upc: $upc) { name reviews(first: $n) { body } }
    }
    """
    response = await post(client, gateway.url, query, {"upc": "p1", "n": 1})

    assert response.json() == {
        "data": {"product": {"name": "Table", "reviews": [{"body": "Love it"}]}}
    }
    (call,) = subgraphs.reviews.log.http
    assert call.body is not None
    assert call.body["variables"]["n"] == 1


async def test_a_skipped_field_that_another_field_requires_is_fetched_but_not_returned(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    query = """
    query Ship($hideWeight: Boolean!) {
      product(upc: "p1") { shippingEstimate weight @skip(if: $hideWeight) }
    }
    """
    hidden = await post(client, gateway.url, query, {"hideWeight": True})
    shown = await post(client, gateway.url, query, {"hideWeight": False})

    assert hidden.json() == {"data": {"product": {"shippingEstimate": 10}}}
    assert shown.json() == {"data": {"product": {"shippingEstimate": 10, "weight": 100}}}


async def test_one_root_field_under_two_aliases_with_different_arguments(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    query = """
    {
      one: topProducts(first: 1) { name }
      two: topProducts(first: 2) { upc reviews(first: 1) { author { name } } }
    }
    """
    response = await post(client, gateway.url, query)

    assert response.json() == {
        "data": {
            "one": [{"name": "Table"}],
            "two": [
                {"upc": "p1", "reviews": [{"author": {"name": "Ada Lovelace"}}]},
                {"upc": "p2", "reviews": [{"author": {"name": "Grace Hopper"}}]},
            ],
        }
    }


async def test_a_mutation_result_is_completed_through_requires_in_other_subgraphs(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    mutation = """
    mutation {
      addReview(upc: "p2", authorId: "1", body: "Heavy") {
        author { name }
        product { name price shippingEstimate }
      }
    }
    """
    response = await post(client, gateway.url, mutation)

    assert response.json() == {
        "data": {
            "addReview": {
                "author": {"name": "Ada Lovelace"},
                "product": {"name": "Couch", "price": 1299, "shippingEstimate": 50},
            }
        }
    }


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("{ _service { sdl } }", "_service"),
        (
            '{ _entities(representations: [{__typename: "User", id: "1"}]) { __typename } }',
            "_entities",
        ),
        ('{ user(id: "1") { name passwordHash } }', "passwordHash"),
    ],
    ids=["_service", "_entities", "inaccessible-field"],
)
async def test_federation_internals_and_inaccessible_fields_are_not_part_of_the_api(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient, query: str, named: str
) -> None:
    response = await post(client, gateway.url, query)

    assert response.status_code == 400
    assert named in response.json()["errors"][0]["message"]
    assert subgraphs.requests_seen() == 0


TWO_OPERATIONS = """
query Names { topProducts(first: 3) { name } }
query Authors { product(upc: "p1") { reviews { author { username } } } }
"""


async def test_operation_name_picks_one_of_several_operations(
    gateway: Gateway, subgraphs: Subgraphs, client: httpx.AsyncClient
) -> None:
    authors = await post(client, gateway.url, TWO_OPERATIONS, operation_name="Authors")
    names = await post(client, gateway.url, TWO_OPERATIONS, operation_name="Names")
    subgraphs.reset()
    ambiguous = await post(client, gateway.url, TWO_OPERATIONS)

    assert authors.json() == {
        "data": {
            "product": {
                "reviews": [{"author": {"username": "ada"}}, {"author": {"username": "alan"}}]
            }
        }
    }
    assert names.json() == {
        "data": {"topProducts": [{"name": "Table"}, {"name": "Couch"}, {"name": "Chair"}]}
    }
    assert ambiguous.status_code == 400
    assert "operation name" in ambiguous.json()["errors"][0]["message"]
    assert subgraphs.requests_seen() == 0
