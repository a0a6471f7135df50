"""Reading join-spec supergraphs: planning metadata and the API schema."""

from __future__ import annotations

import pytest
from graphql import print_schema

from gateway.supergraph import Supergraph, SupergraphError
from tests.unit.gateway_engine.engine_harness import FIXTURES


@pytest.fixture(scope="module")
def shop() -> Supergraph:
    return Supergraph((FIXTURES / "shop.graphql").read_text())


@pytest.fixture(scope="module")
def media() -> Supergraph:
    return Supergraph((FIXTURES / "media.graphql").read_text())


def test_subgraph_urls_come_from_join_graph_unless_overridden() -> None:
    sdl = (FIXTURES / "shop.graphql").read_text()
    graph = Supergraph(sdl, {"reviews": "http://reviews:4002/graphql"})
    assert graph.url("products") == "http://products.test/graphql"
    assert graph.url("reviews") == "http://reviews:4002/graphql"


def test_keys_per_subgraph_with_several_and_unresolvable_keys(
    shop: Supergraph, media: Supergraph
) -> None:
    product = shop.types["Product"]
    assert [k.fields for k in product.keys["products"]] == ["upc", "sku"]
    assert [k.fields for k in product.resolvable_keys("pricing")] == ["sku"]
    location = media.types["Location"]
    assert location.resolvable_keys("catalog") == []
    assert [k.fields for k in location.resolvable_keys("library")] == ["building { id } room"]


def test_field_sources_honour_external_requires_provides_and_override(
    shop: Supergraph, media: Supergraph
) -> None:
    weight = shop.fields[("Product", "weight")]
    assert set(weight.sources) == {"products"}
    assert weight.known_in == {"products", "inventory"}
    shipping = shop.fields[("Product", "shippingEstimate")].sources["inventory"]
    assert shipping.requires is not None
    author = shop.fields[("Review", "author")].sources["reviews"]
    assert author.provides is not None
    assert set(media.fields[("Book", "pages")].sources) == {"library"}


def test_interface_object_fields_become_sources_on_implementations(media: Supergraph) -> None:
    stars = media.fields[("Book", "stars")]
    assert {g: s.via for g, s in stars.sources.items()} == {"ratings": "Media"}
    assert media.types["Media"].interface_object_graphs == {"ratings"}
    assert media.types["SearchResult"].members_by_graph == {
        "catalog": {"Book", "Movie"},
        "library": {"Book", "Magazine"},
    }


def test_external_key_fields_are_still_resolvable_by_their_subgraph() -> None:
    sdl = (
        (FIXTURES / "shop.graphql")
        .read_text()
        .replace(
            "upc: String! @join__field(graph: INVENTORY) @join__field(graph: PRODUCTS)",
            "upc: String! @join__field(graph: INVENTORY, external: true) "
            "@join__field(graph: PRODUCTS)",
        )
    )
    graph = Supergraph(sdl)
    assert set(graph.fields[("Product", "upc")].sources) == {"inventory", "products", "reviews"}


def test_api_schema_has_no_federation_machinery(shop: Supergraph) -> None:
    printed = print_schema(shop.api_schema)
    assert "join__" not in printed
    assert "link__" not in printed
    assert "@inaccessible" not in printed
    assert "internalCode" not in printed
    assert "type Subscription" in printed


@pytest.mark.parametrize(
    "sdl",
    ["type Query { a: Int }", 'schema @link(url: "https://specs.apollo.dev/link/v1.0") {', ""],
)
def test_non_supergraphs_are_rejected_with_a_reason(sdl: str) -> None:
    with pytest.raises(SupergraphError):
        Supergraph(sdl)


def test_own_types_and_progressive_overrides_are_read_per_subgraph() -> None:
    zoo = Supergraph((FIXTURES / "zoo.graphql").read_text())

    nickname = zoo.fields[("Dog", "nickname")].sources
    assert (nickname["zoo"].own_type, nickname["registry"].own_type) == ("String!", None)
    assert zoo.fields[("Cat", "nickname")].sources["zoo"].own_type is None
    assert sorted((o.field_name, o.percent) for o in zoo.progressive) == [
        ("chip", 50.0),
        ("vaccinated", 100.0),
        ("weight", 0.0),
    ]
    # Inactive labels leave the field with the subgraph it would override, and only it.
    assert set(zoo.fields[("Dog", "chip")].sources) == {"registry"}
    active = zoo.fields_for(frozenset({"percent(50)"}))
    assert set(active[("Dog", "chip")].sources) == {"vet"}
    assert set(active[("Dog", "weight")].sources) == {"registry"}
    assert zoo.fields_for(frozenset({"percent(50)"})) is active
