"""The ``products`` subgraph: owns ``Product`` (name, price, weight) and ``topProducts``."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from tests.integration.gateway_e2e.e2e_subgraph_app import Served, build

PRODUCTS = {
    "p1": ("Table", 899, 100),
    "p2": ("Couch", 1299, 1000),
    "p3": ("Chair", 54, 50),
}


@dataclass
class ProductsState:
    """Read-only catalogue; kept for symmetry with the other subgraphs."""

    def reset(self) -> None:
        return None


@strawberry.federation.type(keys=["upc"])
class Product:
    upc: str
    name: str
    price: int
    weight: int | None

    @classmethod
    def resolve_reference(cls, upc: str) -> Product | None:
        return _product(upc)


def _product(upc: str) -> Product | None:
    if upc not in PRODUCTS:
        return None
    name, price, weight = PRODUCTS[upc]
    return Product(upc=upc, name=name, price=price, weight=weight)


@strawberry.type
class Query:
    @strawberry.field
    def top_products(self, first: int = 5) -> list[Product]:
        return [p for upc in list(PRODUCTS)[:first] if (p := _product(upc)) is not None]

    @strawberry.field
    def product(self, upc: str) -> Product | None:
        return _product(upc)


def products() -> Served:
    schema = strawberry.federation.Schema(query=Query, types=[Product])
    return build("products", schema, ProductsState())
