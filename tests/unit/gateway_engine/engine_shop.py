"""The "shop" test graph: keys, several keys, @requires chains, @provides, @shareable, mutations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tests.unit.gateway_engine.engine_subgraph import Subgraph

PRODUCTS_SDL = """
type Query {
  topProducts(first: Int = 5): [Product]
  product(upc: String!): Product
}
type Product @key(fields: "upc") @key(fields: "sku") {
  upc: String!
  sku: String!
  name: String
  price: Int
  weight: Int
  dimensions: Dimensions
  internalCode: String @inaccessible
}
type Dimensions @shareable {
  width: Int
  height: Int
}
"""

INVENTORY_SDL = """
type Query {
  inStockProducts: [Product]
}
type Product @key(fields: "upc") {
  upc: String!
  weight: Int @external
  dimensions: Dimensions @external
  discount: Int @external
  inStock: Boolean
  shippingEstimate(zone: String): Int @requires(fields: "weight discount")
  volume: Int @requires(fields: "dimensions { width height }")
}
type Dimensions @shareable {
  width: Int
  height: Int
}
"""

PRICING_SDL = """
type Product @key(fields: "sku") {
  sku: String!
  price: Int @external
  discount: Int @requires(fields: "price")
}
"""

ACCOUNTS_SDL = """
type Query {
  me: User
  user(id: ID!): User @shareable
}
type Mutation {
  login(username: String!): User
}
type User @key(fields: "id") {
  id: ID!
  name: String
  username: String @shareable
}
"""

REVIEWS_SDL = """
type Query {
  user(id: ID!): User @shareable
  review(id: ID!): Review
}
type Mutation {
  addReview(upc: String!, body: String!): Review
}
type Subscription {
  reviewAdded(upc: String): Review
}
type Review @key(fields: "id") {
  id: ID!
  body: String!
  author: User @provides(fields: "username")
  product: Product
}
type User @key(fields: "id") {
  id: ID!
  username: String @external
  reviews: [Review]
}
type Product @key(fields: "upc") {
  upc: String!
  reviews: [Review]
}
"""

SDLS = {
    "products": PRODUCTS_SDL,
    "inventory": INVENTORY_SDL,
    "pricing": PRICING_SDL,
    "accounts": ACCOUNTS_SDL,
    "reviews": REVIEWS_SDL,
}

PRODUCTS = [
    {"upc": "1", "sku": "s1", "name": "Table", "price": 100, "weight": 10, "w": 2, "h": 3},
    {"upc": "2", "sku": "s2", "name": "Couch", "price": 200, "weight": 20, "w": 4, "h": 5},
    {"upc": "3", "sku": "s3", "name": "Chair", "price": 50, "weight": 5, "w": 1, "h": 1},
]
USERS = {"u1": ("Ada Lovelace", "ada"), "u2": ("Bob Builder", "bob")}
REVIEWS = [
    {"id": "r1", "upc": "1", "author": "u1", "body": "Love it"},
    {"id": "r2", "upc": "1", "author": "u2", "body": "Too big"},
    {"id": "r3", "upc": "2", "author": "u1", "body": "Comfy"},
]


def _product(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "__typename": "Product",
        "upc": p["upc"],
        "sku": p["sku"],
        "name": p["name"],
        "price": p["price"],
        "weight": p["weight"],
        "dimensions": {"width": p["w"], "height": p["h"]},
        "internalCode": "X-" + p["upc"],
    }


def _by(key: str, value: Any) -> dict[str, Any] | None:
    return next((p for p in PRODUCTS if p[key] == value), None)


def make_shop() -> dict[str, Subgraph]:
    """Fresh subgraphs (each records the requests it receives)."""
    subgraphs = (_products(), _inventory(), _pricing(), _accounts(), _reviews())
    return {s.name: s for s in subgraphs}


def _product_entity(rep: dict[str, Any]) -> Any:
    found = _by("upc", rep["upc"]) if "upc" in rep else _by("sku", rep["sku"])
    return _product(found) if found else None


def _products() -> Subgraph:
    return Subgraph(
        "products",
        PRODUCTS_SDL,
        root={
            "topProducts": lambda _i, first=5: [_product(p) for p in PRODUCTS[:first]],
            "product": lambda _i, upc: (lambda p: _product(p) if p else None)(_by("upc", upc)),
        },
        entities={"Product": _product_entity},
    )


def _inventory_entity(rep: dict[str, Any]) -> Any:
    if rep["upc"] == "404":
        return None

    def shipping(_info: Any, zone: str | None = None) -> int:
        return int((rep["weight"] + rep["discount"]) * (2 if zone == "EU" else 1))

    dims = rep.get("dimensions") or {}
    return {
        "upc": rep["upc"],
        "inStock": rep["upc"] != "3",
        "shippingEstimate": shipping,
        "volume": (dims.get("width") or 0) * (dims.get("height") or 0),
    }


def _inventory() -> Subgraph:
    return Subgraph(
        "inventory",
        INVENTORY_SDL,
        root={
            "inStockProducts": lambda _i: [{"__typename": "Product", "upc": "1", "inStock": True}]
        },
        entities={"Product": _inventory_entity},
    )


def _pricing() -> Subgraph:
    return Subgraph(
        "pricing",
        PRICING_SDL,
        entities={"Product": lambda rep: {"sku": rep["sku"], "discount": rep["price"] // 10}},
    )


def _user(uid: str) -> dict[str, Any] | None:
    if uid not in USERS:
        return None
    return {"__typename": "User", "id": uid, "name": USERS[uid][0], "username": USERS[uid][1]}


def _accounts() -> Subgraph:
    return Subgraph(
        "accounts",
        ACCOUNTS_SDL,
        root={
            "me": lambda _i: _user("u1"),
            "user": lambda _i, id: _user(id),
            "login": lambda _i, username: next(
                (_user(k) for k, v in USERS.items() if v[1] == username), None
            ),
        },
        entities={"User": lambda rep: _user(rep["id"])},
    )


def _reviews() -> Subgraph:
    """The reviews subgraph over its own copy of REVIEWS (``addReview`` appends to it)."""
    reviews_store = [dict(r) for r in REVIEWS]

    def review(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "Review",
            "id": r["id"],
            "body": r["body"],
            "author": reviews_user(r["author"], with_username=True),
            "product": {"__typename": "Product", "upc": r["upc"]},
        }

    def add_review(_info: Any, upc: str, body: str) -> dict[str, Any]:
        entry = {"id": f"r{len(reviews_store) + 1}", "upc": upc, "author": "u1", "body": body}
        reviews_store.append(entry)
        return review(entry)

    def reviews_user(uid: str, with_username: bool = False) -> dict[str, Any]:
        user: dict[str, Any] = {
            "__typename": "User",
            "id": uid,
            "reviews": lambda _info: [review(r) for r in reviews_store if r["author"] == uid],
        }
        if with_username:  # only where @provides promises it
            user["username"] = USERS[uid][1]
        return user

    async def review_events(_info: Any, upc: str | None = None) -> AsyncIterator[Any]:
        for r in reviews_store:
            if upc is None or r["upc"] == upc:
                yield {"reviewAdded": review(r)}

    return Subgraph(
        "reviews",
        REVIEWS_SDL,
        root={
            "user": lambda _i, id: reviews_user(id),
            "review": lambda _i, id: next(
                (review(r) for r in reviews_store if r["id"] == id), None
            ),
            "addReview": add_review,
            "reviewAdded": review_events,
        },
        entities={
            "User": lambda rep: reviews_user(rep["id"]),
            "Product": lambda rep: {
                "upc": rep["upc"],
                "reviews": [review(r) for r in reviews_store if r["upc"] == rep["upc"]],
            },
        },
    )
