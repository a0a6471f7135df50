"""The five benchmark subgraphs: graphql-core schemas with federation's ``_entities``/``_service``.

Each subgraph's federation SDL lives in ``schemas/<name>.graphql`` (the file composition
reads); here it is made executable by adding the federation directive definitions and
the ``_Any``/``_Entity``/``_Service`` plumbing, then wiring resolvers over :mod:`data`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLSchema,
    SchemaExtensionNode,
    build_ast_schema,
    parse,
)

from bench.gateways import data

SCHEMAS = Path(__file__).parent / "schemas"
NAMES = ("users", "products", "inventory", "shipping", "reviews")

_FEDERATION_DEFINITIONS = """
scalar _Any
scalar FieldSet
type _Service { sdl: String! }
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @external on FIELD_DEFINITION | OBJECT
directive @requires(fields: FieldSet!) on FIELD_DEFINITION
directive @provides(fields: FieldSet!) on FIELD_DEFINITION
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
"""

Row = dict[str, Any]
EntityResolver = Callable[[Mapping[str, Any]], Row | None]
FieldResolver = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Subgraph:
    """One subgraph: its federation SDL (what ``_service`` returns) and executable schema."""

    name: str
    sdl: str
    schema: GraphQLSchema


class SubgraphError(Exception):
    """A subgraph name or schema that the benchmark does not know."""


def load(name: str) -> Subgraph:
    if name not in NAMES:
        raise SubgraphError(f"unknown subgraph {name!r}: pick one of {', '.join(NAMES)}")
    sdl = (SCHEMAS / f"{name}.graphql").read_text()
    entities, fields = _RESOLVERS[name]
    schema = build_ast_schema(_executable(sdl, sorted(entities)))
    for (type_name, field_name), resolve in fields.items():
        schema.get_type(type_name).fields[field_name].resolve = resolve  # type: ignore[union-attr]
    query = schema.query_type
    assert query is not None
    query.fields["_service"].resolve = lambda *_: {"sdl": sdl}
    query.fields["_entities"].resolve = _entities_resolver(entities)
    return Subgraph(name, sdl, schema)


def _executable(sdl: str, entity_types: list[str]) -> DocumentNode:
    document = parse(sdl)
    body = [d for d in document.definitions if not isinstance(d, SchemaExtensionNode)]
    has_query = "type Query" in sdl
    root = (
        f"union _Entity = {' | '.join(entity_types)}\n"
        f"{'extend type' if has_query else 'type'} Query "
        "{ _entities(representations: [_Any!]!): [_Entity]! _service: _Service! }"
    )
    extra = parse(_FEDERATION_DEFINITIONS + root)
    return DocumentNode(definitions=(*extra.definitions, *body))


def _entities_resolver(entities: Mapping[str, EntityResolver]) -> FieldResolver:
    def resolve(_: Any, __: Any, representations: list[Row]) -> list[Row | None]:
        found: list[Row | None] = []
        for representation in representations:
            typename = representation.get("__typename")
            resolver = entities.get(typename) if isinstance(typename, str) else None
            row = resolver(representation) if resolver is not None else None
            found.append(None if row is None else {**row, "__typename": typename})
        return found

    return resolve


def _key(field: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda representation: str(representation[field])


def _product_with_required(representation: Mapping[str, Any]) -> Row | None:
    # @requires: the gateway sends price and weight in the representation; use those, not ours.
    return {
        "upc": representation["upc"],
        "price": representation.get("price"),
        "weight": representation.get("weight"),
    }


def _required_int(parent: Row, field: str) -> int:
    value = parent.get(field)
    if not isinstance(value, int):
        raise SubgraphError(f"@requires field {field!r} missing from the representation")
    return value


_upc = _key("upc")
_id = _key("id")

_RESOLVERS: dict[str, tuple[dict[str, EntityResolver], dict[tuple[str, str], FieldResolver]]] = {
    "users": (
        {"User": lambda r: data.user(_id(r))},
        {
            ("Query", "me"): lambda *_: data.user("1"),
            ("Query", "user"): lambda _, __, id: data.user(id),
        },
    ),
    "products": (
        {"Product": lambda r: data.product(_upc(r)), "User": lambda r: {"id": _id(r)}},
        {
            ("Query", "topProducts"): lambda _, __, first=5, offset=0: data.top_products(
                first, offset
            ),
            ("Query", "product"): lambda _, __, upc: data.product(upc),
            ("User", "recentlyViewed"): lambda user, _: [
                data.product(p["upc"]) for p in data.recently_viewed(user["id"])
            ],
        },
    ),
    "inventory": (
        {"Product": _product_with_required},
        {
            ("Product", "inStock"): lambda p, _: data.in_stock(p["upc"]),
            ("Product", "shippingEstimate"): lambda p, _: data.shipping_estimate(
                _required_int(p, "price"), _required_int(p, "weight")
            ),
        },
    ),
    "shipping": (
        {"Product": _product_with_required, "User": lambda r: {"id": _id(r)}},
        {
            ("Product", "shippingOptions"): lambda p, _: data.shipping_options(
                _required_int(p, "weight")
            ),
            ("User", "address"): lambda u, _: data.address(u["id"]),
        },
    ),
    "reviews": (
        {
            "Review": lambda r: data.review(_id(r)),
            "User": lambda r: {"id": _id(r)},
            "Product": lambda r: {"upc": _upc(r)},
        },
        {
            ("User", "reviews"): lambda u, _: data.reviews_by_author(u["id"]),
            ("Product", "reviews"): lambda p, _: data.reviews_of_product(p["upc"]),
        },
    ),
}
