"""The "misc" test graph: override of a required field, @provides on a union, enums and
inputs that differ across subgraphs, @inaccessible arguments and enum values."""

from __future__ import annotations

from typing import Any

from tests.unit.gateway_engine.engine_subgraph import Subgraph

STOCK_SDL = """
type Query {
  items(filter: Filter, debug: Boolean @inaccessible): [Item]
  feed: [FeedEntry] @provides(fields: "... on Note { text }")
}
input Filter {
  minSize: Int
  tag: String
}
enum Kind {
  SMALL
  LARGE
  SECRET @inaccessible
}
type Item @key(fields: "id") {
  id: ID!
  size: Int
  kind: Kind
  weightGrams: Int
  labels: [Label!]!
}
type Label @key(fields: "id") {
  id: ID!
}
union FeedEntry = Item | Note
type Note @key(fields: "id") {
  id: ID!
  text: String @external
}
"""

LOGISTICS_SDL = """
type Query {
  notes: [Note]
  search(filter: Filter): [Item]
}
input Filter {
  minSize: Int
}
enum Kind {
  SMALL
  LARGE
}
type Item @key(fields: "id") {
  id: ID!
  weightGrams: Int @override(from: "stock")
  altKind: Kind
}
type Note @key(fields: "id") {
  id: ID!
  text: String @shareable
}
type Label @key(fields: "id") {
  id: ID!
  text: String!
}
"""

SHIPPING_SDL = """
type Item @key(fields: "id") {
  id: ID!
  weightGrams: Int @external
  shipping: Int @requires(fields: "weightGrams")
}
type Note @key(fields: "id") {
  id: ID!
  mood: String @override(from: "nowhere")
}
"""

SDLS = {"stock": STOCK_SDL, "logistics": LOGISTICS_SDL, "shipping": SHIPPING_SDL}

ITEMS = {"i1": (1, "SMALL", 500), "i2": (3, "SECRET", 2500)}


def make_misc() -> dict[str, Subgraph]:
    def stock_item(iid: str) -> dict[str, Any]:
        size, kind, _ = ITEMS[iid]
        labels = [{"__typename": "Label", "id": f"{iid}-a"}, {"__typename": "Label", "id": "gone"}]
        return {
            "__typename": "Item",
            "id": iid,
            "size": size,
            "kind": kind,
            "weightGrams": -1,
            "labels": labels if iid == "i2" else labels[:1],
        }

    stock = Subgraph(
        "stock",
        STOCK_SDL,
        root={
            "items": lambda _i, filter=None, debug=None: [
                stock_item(i)
                for i in ITEMS
                if filter is None or ITEMS[i][0] >= (filter.get("minSize") or 0)
            ],
            "feed": lambda _i: [
                stock_item("i1"),
                {"__typename": "Note", "id": "n1", "text": "provided by stock"},
            ],
        },
        entities={"Item": lambda rep: stock_item(rep["id"])},
    )
    logistics = Subgraph(
        "logistics",
        LOGISTICS_SDL,
        root={
            "notes": lambda _i: [{"__typename": "Note", "id": "n1", "text": "from logistics"}],
            "search": lambda _i, filter=None: [
                {"__typename": "Item", "id": i, "altKind": "LARGE"}
                for i in ITEMS
                if filter is None or ITEMS[i][0] >= (filter.get("minSize") or 0)
            ],
        },
        entities={
            "Item": lambda rep: {
                "id": rep["id"],
                "weightGrams": ITEMS[rep["id"]][2],
                "altKind": "LARGE",
            },
            "Note": lambda rep: {"id": rep["id"], "text": "from logistics"},
            "Label": lambda rep: None if rep["id"] == "gone" else {"text": rep["id"].upper()},
        },
    )
    shipping = Subgraph(
        "shipping",
        SHIPPING_SDL,
        entities={
            "Item": lambda rep: {"id": rep["id"], "shipping": rep["weightGrams"] // 100},
            "Note": lambda rep: {"id": rep["id"], "mood": "calm"},
        },
    )
    return {s.name: s for s in (stock, logistics, shipping)}
