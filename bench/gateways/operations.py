"""The two benchmark operations, sent unchanged to every gateway."""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Operation:
    """A named GraphQL operation and the JSON body that carries it."""

    name: str
    query: str
    description: str

    @property
    def body(self) -> bytes:
        return orjson.dumps({"query": self.query, "operationName": self.name})


SMALL = Operation(
    "Small",
    'query Small { product(upc: "3") { upc name price } }',
    "one root field, three scalars: 1 subgraph fetch",
)

# Plan (Apollo's planner): products → {inventory @requires(price weight), shipping
# @requires(weight), reviews} → {users, shipping, products} for each review author
# (username comes from reviews via @provides) → {inventory, reviews} for the recently
# viewed products → users for those reviews' authors: 10 fetches in 4 waves.
HEAVY = Operation(
    "Heavy",
    """query Heavy {
  topProducts(first: 5) {
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
)

OPERATIONS = (SMALL, HEAVY)
