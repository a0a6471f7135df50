"""Differential tests: random queries over the federated shop and media graphs, and fixed
queries over abstract types across subgraphs, answer exactly like one monolithic
graphql-core server holding the same data (the oracle)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    graphql,
    is_abstract_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.engine import RequestError
from tests.unit.gateway_engine.engine_harness import make_engine, run
from tests.unit.gateway_engine.engine_media import BOOKS, MOVIES, STARS, make_media
from tests.unit.gateway_engine.engine_shop import PRODUCTS, REVIEWS, USERS, make_shop
from tests.unit.gateway_engine.engine_zoo import CATS, DOGS, make_zoo

ARGUMENTS = {
    "topProducts": ["", "(first: 2)"],
    "product": ['(upc: "2")', '(upc: "404")'],
    "user": ['(id: "u1")', '(id: "u2")'],
    "review": ['(id: "r2")'],
    "shippingEstimate": ["", '(zone: "EU")'],
    "book": ['(id: "b1")', '(id: "b2")'],
}
SKIPPED = {"internalCode"}


def _monolith_root() -> dict[str, Any]:
    def product(p: dict[str, Any]) -> dict[str, Any]:
        discount = p["price"] // 10
        return {
            "upc": p["upc"],
            "sku": p["sku"],
            "name": p["name"],
            "price": p["price"],
            "weight": p["weight"],
            "dimensions": {"width": p["w"], "height": p["h"]},
            "inStock": p["upc"] != "3",
            "discount": discount,
            "volume": p["w"] * p["h"],
            "shippingEstimate": lambda _i, zone=None: (
                (p["weight"] + discount) * (2 if zone == "EU" else 1)
            ),
            "reviews": lambda _i: [review(r) for r in REVIEWS if r["upc"] == p["upc"]],
        }

    def user(uid: str) -> dict[str, Any] | None:
        if uid not in USERS:
            return None
        return {
            "id": uid,
            "name": USERS[uid][0],
            "username": USERS[uid][1],
            "reviews": lambda _i: [review(r) for r in REVIEWS if r["author"] == uid],
        }

    def review(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"],
            "body": r["body"],
            "author": lambda _i: user(r["author"]),
            "product": lambda _i: product(next(p for p in PRODUCTS if p["upc"] == r["upc"])),
        }

    def by_upc(upc: str) -> dict[str, Any] | None:
        found = next((p for p in PRODUCTS if p["upc"] == upc), None)
        return product(found) if found else None

    return {
        "topProducts": lambda _i, first=5: [product(p) for p in PRODUCTS[:first]],
        "product": lambda _i, upc: by_upc(upc),
        "inStockProducts": lambda _i: [product(PRODUCTS[0])],
        "me": lambda _i: user("u1"),
        "user": lambda _i, id: user(id),
        "review": lambda _i, id: next((review(r) for r in REVIEWS if r["id"] == id), None),
    }


@st.composite
def selections(draw: st.DrawFn, schema: GraphQLSchema, type_name: str, depth: int) -> str:
    gtype = schema.type_map[type_name]
    if is_abstract_type(gtype):
        runtimes = sorted(t.name for t in schema.get_possible_types(gtype))
        chosen = draw(st.lists(st.sampled_from(runtimes), max_size=3, unique=True))
        parts = [f"... on {t} {{ {draw(selections(schema, t, depth))} }}" for t in chosen]
        if isinstance(gtype, GraphQLInterfaceType) and draw(st.booleans()):
            leaves = sorted(
                n for n, f in gtype.fields.items() if is_leaf_type(get_named_type(f.type))
            )
            parts.insert(
                0, " ".join(draw(st.lists(st.sampled_from(leaves), min_size=1, unique=True)))
            )
        if not parts or draw(st.booleans()):
            parts.insert(0, "__typename")
        return " ".join(parts)
    assert isinstance(gtype, GraphQLObjectType)
    names = sorted(n for n in gtype.fields if n not in SKIPPED)
    if depth >= 3:
        names = [n for n in names if is_leaf_type(get_named_type(gtype.fields[n].type))]
    picked = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    parts = []
    for index, name in enumerate(picked):
        named = get_named_type(gtype.fields[name].type)
        args = draw(st.sampled_from(ARGUMENTS.get(name, [""])))
        alias = draw(st.sampled_from(["", f"a{index}: "]))
        sub = ""
        if not is_leaf_type(named):
            sub = " { " + draw(selections(schema, named.name, depth + 1)) + " }"
        field = f"{alias}{name}{args}{sub}"
        wrap = draw(st.sampled_from(["plain", "plain", "fragment", "typename"]))
        if wrap == "fragment":
            field = f"... on {type_name} {{ {field} }}"
        elif wrap == "typename":
            field = f"__typename {field}"
        parts.append(field)
    return " ".join(parts)


_SCHEMA = make_engine("shop", make_shop()).api_schema


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=selections(_SCHEMA, "Query", 0).map(lambda s: "{ " + s + " }"))
def test_federated_answers_equal_a_monolithic_servers(query: str) -> None:
    async def both() -> tuple[Any, Any]:
        engine = make_engine("shop", make_shop())
        try:
            federated = await run(engine, query)
        except RequestError:
            return None, None  # e.g. two aliases clash: both servers reject it
        oracle = await graphql(_SCHEMA, query, root_value=_monolith_root())
        return federated, oracle.formatted

    federated, oracle = asyncio.run(both())
    assert federated == oracle, query


def _media_root() -> dict[str, Any]:
    def book(bid: str) -> dict[str, Any]:
        return {
            "__typename": "Book",
            "id": bid,
            "title": BOOKS[bid][0],
            "pages": BOOKS[bid][1],
            "price": {"amount": 10, "currency": "EUR"},
            "location": {"building": {"id": "main"}, "room": f"room-{bid}", "capacity": 10},
            "loans": 7 if bid == "b1" else 2,
            "stars": STARS[bid],
            "votes": 10 * STARS[bid],
        }

    def movie(mid: str) -> dict[str, Any]:
        title, minutes = MOVIES[mid]
        return {
            "__typename": "Movie",
            "id": mid,
            "title": title,
            "minutes": minutes,
            "stars": 4,
            "votes": 40,
        }

    magazine = {"__typename": "Magazine", "id": "g1", "issue": 42}
    return {
        "media": lambda _i: [book("b1"), movie("m1"), book("b2")],
        "search": lambda _i: [movie("m1"), book("b2")],
        "book": lambda _i, id: book(id),
        "topRated": lambda _i: [movie("m1"), book("b1")],
        "librarySearch": lambda _i: [book("b1"), magazine],
    }


_MEDIA_SCHEMA = make_engine("media", make_media()).api_schema


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=selections(_MEDIA_SCHEMA, "Query", 0).map(lambda s: "{ " + s + " }"))
def test_federated_abstract_types_answer_like_a_monolithic_server(query: str) -> None:
    async def both() -> tuple[Any, Any]:
        engine = make_engine("media", make_media())
        try:
            federated = await run(engine, query)
        except RequestError:
            return None, None
        oracle = await graphql(_MEDIA_SCHEMA, query, root_value=_media_root())
        return federated, oracle.formatted

    federated, oracle = asyncio.run(both())
    assert federated == oracle, query


ABSTRACT_ACROSS_SUBGRAPHS = [
    # interface whose implementations' fields live in several subgraphs, plus the fields an
    # @interfaceObject subgraph adds to it
    "{ media { __typename id title stars ... on Book { pages loans } ... on Movie { minutes } } }",
    # an @interfaceObject root: concrete types come from the interface's owner
    "{ topRated { __typename id stars ... on Book { title loans } ... on Movie { title } } }",
    # a union with different members per subgraph, asked through both subgraphs' roots
    "{ search { __typename ... on Book { id title loans } ... on Movie { minutes stars } } "
    "librarySearch { __typename ... on Book { title pages stars } ... on Magazine { issue } } }",
    "{ librarySearch { ... on Media { id title } ... on Magazine { id } } }",
    # one response key, a different @interfaceObject field per runtime type
    "{ media { ... on Book { n: stars } ... on Movie { n: votes } } }",
    "{ topRated { ... on Book { n: stars } ... on Movie { n: minutes } } }",
]


@pytest.mark.parametrize("query", ABSTRACT_ACROSS_SUBGRAPHS)
async def test_abstract_types_across_subgraphs_answer_like_the_oracle(query: str) -> None:
    federated = await run(make_engine("media", make_media()), query)
    oracle = await graphql(_MEDIA_SCHEMA, query, root_value=_media_root())

    assert oracle.errors is None
    assert federated == oracle.formatted


def _zoo_root() -> dict[str, Any]:
    def dog(did: str) -> dict[str, Any]:
        name, nickname, age = DOGS[did]
        return {
            "__typename": "Dog",
            "id": did,
            "name": name,
            "nickname": nickname,
            "age": age,
            "weight": 10,  # percent(0): still the registry's
            "vaccinated": True,  # percent(100): the vet's
            "chip": "chip",
            "checkups": 2,
        }

    def cat(cid: str) -> dict[str, Any]:
        name, nickname, lives = CATS[cid]
        return {"__typename": "Cat", "id": cid, "name": name, "nickname": nickname, "lives": lives}

    return {
        "star": lambda _i: dog("d1"),
        "pets": lambda _i: [dog("d1"), cat("c1"), dog("d2")],
        "pick": lambda _i: cat("c1"),
        "keeper": lambda _i: {"id": "k1", "badge": "badge", "pets": [dog("d1"), dog("d2")]},
    }


_ZOO_SCHEMA = make_engine("zoo", make_zoo()).api_schema

ZOO_QUERIES = [
    "{ star { id name ... on Dog { nickname age checkups } } }",
    "{ pets { __typename id name ... on Dog { nickname weight vaccinated } "
    "... on Cat { nickname lives } } }",
    "{ pick { ... on Dog { name age } ... on Cat { name nickname lives } } }",
    "{ keeper { badge pets { id name chip checkups } } }",
]


@pytest.mark.parametrize("query", ZOO_QUERIES)
async def test_provided_and_own_typed_abstract_fields_answer_like_the_oracle(query: str) -> None:
    federated = await run(make_engine("zoo", make_zoo(consistent=True)), query)
    oracle = await graphql(_ZOO_SCHEMA, query, root_value=_zoo_root())

    assert oracle.errors is None
    assert federated == oracle.formatted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=selections(_ZOO_SCHEMA, "Query", 0).map(lambda s: "{ " + s + " }"))
def test_federated_provides_and_own_types_answer_like_a_monolithic_server(query: str) -> None:
    async def both() -> tuple[Any, Any]:
        engine = make_engine("zoo", make_zoo(consistent=True))
        try:
            federated = await run(engine, query)
        except RequestError:
            return None, None
        oracle = await graphql(_ZOO_SCHEMA, query, root_value=_zoo_root())
        return federated, oracle.formatted

    federated, oracle = asyncio.run(both())
    assert federated == oracle, query
