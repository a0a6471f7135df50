"""The two benchmark operations and the variable sets they are sent with, alike to every gateway.

Each operation is sent with ``variants`` different variable values in rotation, so the
32 operations in flight at once ask for different data: a gateway that shares identical
in-flight subgraph requests (ours and Hive do) gains nothing from the load being one
request repeated. ``variants=1`` sends one identical request, for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Operation:
    """A named GraphQL operation and the JSON body that carries it."""

    name: str
    query: str
    description: str
    variable: str
    step: int
    """Variant ``i`` sets ``variable`` to ``first_value + i * step``."""
    first_value: int

    def body(self, variant: int = 0) -> bytes:
        value = self.first_value + variant * self.step
        variables = {self.variable: str(value) if self.variable == "upc" else value}
        return orjson.dumps(
            {"query": self.query, "operationName": self.name, "variables": variables}
        )

    def bodies(self, variants: int) -> list[bytes]:
        return [self.body(i) for i in range(variants)]


SMALL = Operation(
    "Small",
    "query Small($upc: String!) { product(upc: $upc) { upc name price } }",
    "one root field, three scalars: 1 subgraph fetch",
    "upc",
    1,
    3,
)

# Plan (Apollo's planner): products → {inventory @requires(price weight), shipping
# @requires(weight), reviews} → {users, shipping, products} for each review author
# (username comes from reviews via @provides) → {inventory, reviews} for the recently
# viewed products → users for those reviews' authors: 10 fetches in 4 waves.
HEAVY = Operation(
    "Heavy",
    """query Heavy($offset: Int!) {
  topProducts(first: 5, offset: $offset) {
    upc
    name
    price
    inStock
    shippingEstimate
    shippingOptions { carrier days cost }
    reviews {
      id
      rating
      body
      author {
        id
        username
        name
        address { city country }
        recentlyViewed {
          upc
          name
          inStock
          shippingEstimate
          reviews { id rating author { name } }
        }
      }
    }
  }
}""",
    "nested entity lists across all five subgraphs, @requires and @provides: 10 fetches",
    "offset",
    5,
    0,
)

OPERATIONS = (SMALL, HEAVY)
