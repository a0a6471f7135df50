"""The "zoo" test graph: @provides on an interface-typed field and on union members, a
shareable field whose type differs per subgraph (join__field(type:)), progressive
@override labels, an executable client directive known to every subgraph, and
entities with several subgraphs to choose from (planner fetch counts)."""

from __future__ import annotations

from typing import Any

from tests.unit.gateway_engine.engine_subgraph import Subgraph

LINK_27 = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: '
    '["@key", "@requires", "@provides", "@external", "@shareable", "@override", '
    '"@inaccessible", "@interfaceObject"])\n'
)

DIRECTIVE = "directive @lowercase on FIELD\ndirective @format(style: String!) on FIELD\n"

ZOO_SDL = (
    DIRECTIVE
    + """
type Query {
  star: Animal @provides(fields: "... on Dog { name }")
  pets: [Animal]
  pick: Pick @provides(fields: "... on Dog { name } ... on Cat { name }")
  keeper: Keeper @shareable
}
interface Animal {
  id: ID!
  name: String
}
type Dog implements Animal @key(fields: "id") {
  id: ID!
  name: String @external
  nickname: String! @shareable
}
type Cat implements Animal @key(fields: "id") {
  id: ID!
  name: String @external
  nickname: String @shareable
}
union Pick = Dog | Cat
type Keeper @key(fields: "id") {
  id: ID!
  badge: String @shareable
}
"""
)

REGISTRY_SDL = (
    DIRECTIVE
    + """
type Query {
  keeper: Keeper @shareable
}
interface Animal {
  id: ID!
  name: String
}
type Dog implements Animal @key(fields: "id") {
  id: ID!
  name: String @shareable
  nickname: String @shareable
  age: Int
  weight: Int
  vaccinated: Boolean
  chip: String
}
type Cat implements Animal @key(fields: "id") {
  id: ID!
  name: String @shareable
  nickname: String @shareable
  lives: Int
}
type Keeper @key(fields: "id") {
  id: ID!
  badge: String @shareable
  pets: [Dog]
}
"""
)

VET_SDL = (
    DIRECTIVE
    + """
type Dog @key(fields: "id") {
  id: ID!
  weight: Int @override(from: "registry", label: "percent(0)")
  vaccinated: Boolean @override(from: "registry", label: "percent(100)")
  chip: String @override(from: "registry", label: "percent(50)")
  checkups: Int!
}
"""
)

SDLS = {"zoo": ZOO_SDL, "registry": REGISTRY_SDL, "vet": VET_SDL}

DOGS = {"d1": ("Rex", "rexy", 3), "d2": ("Fido", "fid", 5)}
CATS = {"c1": ("Tom", None, 7)}


def make_zoo(consistent: bool = False) -> dict[str, Subgraph]:
    """The zoo's subgraphs. Shared and provided values carry the subgraph that answered
    (to prove where a value came from) unless ``consistent`` (for oracle comparisons)."""
    provided = "" if consistent else " (provided)"

    def mark(value: str, graph: str) -> str:
        return value if consistent else f"{graph}-{value}"

    def dog(did: str, *fields: str) -> dict[str, Any]:
        name, nickname, _ = DOGS[did]
        out: dict[str, Any] = {"__typename": "Dog", "id": did, "nickname": nickname}
        if "name" in fields:
            out["name"] = name + provided
        return out

    def cat(cid: str, *fields: str) -> dict[str, Any]:
        name, nickname, _ = CATS[cid]
        out: dict[str, Any] = {"__typename": "Cat", "id": cid, "nickname": nickname}
        if "name" in fields:
            out["name"] = name + provided
        return out

    zoo = Subgraph(
        "zoo",
        ZOO_SDL,
        root={
            "star": lambda _i: dog("d1", "name"),
            "pets": lambda _i: [dog("d1"), cat("c1"), dog("d2")],
            "pick": lambda _i: cat("c1", "name"),
            "keeper": lambda _i: {"id": "k1", "badge": mark("badge", "zoo")},
        },
    )

    def registry_dog(rep: dict[str, Any]) -> dict[str, Any]:
        name, nickname, age = DOGS[rep["id"]]
        return {
            "id": rep["id"],
            "name": name,
            "nickname": nickname,
            "age": age,
            "weight": 10,
            "vaccinated": False,
            "chip": mark("chip", "registry"),
        }

    def registry_cat(rep: dict[str, Any]) -> dict[str, Any]:
        name, nickname, lives = CATS[rep["id"]]
        return {"id": rep["id"], "name": name, "nickname": nickname, "lives": lives}

    registry = Subgraph(
        "registry",
        REGISTRY_SDL,
        root={
            "keeper": lambda _i: {
                "id": "k1",
                "badge": mark("badge", "registry"),
                "pets": [registry_dog({"id": "d1"}), registry_dog({"id": "d2"})],
            }
        },
        entities={
            "Dog": registry_dog,
            "Cat": registry_cat,
            "Keeper": lambda rep: {
                "id": rep["id"],
                "badge": mark("badge", "registry"),
                "pets": [registry_dog({"id": "d1"}), registry_dog({"id": "d2"})],
            },
        },
    )
    vet = Subgraph(
        "vet",
        VET_SDL,
        entities={
            "Dog": lambda rep: {
                "id": rep["id"],
                "weight": 11,
                "vaccinated": True,
                "chip": mark("chip", "vet"),
                "checkups": 2,
            }
        },
    )
    return {s.name: s for s in (zoo, registry, vet)}
