"""validate_supergraph: accepts join v0.3+ supergraphs, rejects everything else clearly."""

from __future__ import annotations

import pytest

from gateway.composition import CompositionError, compose, validate_supergraph
from tests.unit.gateway_composition.composition_support import FIXTURES, fed2, load_set

SETS = sorted(p for p in (FIXTURES / "sets").iterdir() if p.is_dir())


@pytest.mark.parametrize("directory", SETS, ids=[p.name for p in SETS])
def test_our_own_supergraphs_are_valid(directory) -> None:
    validate_supergraph(compose(load_set(directory)))


@pytest.mark.parametrize("name", ["ecommerce.apollo.graphql", "threadline_fed29.apollo.graphql"])
def test_supergraphs_composed_by_apollo_are_valid(name: str) -> None:
    validate_supergraph((FIXTURES / "supergraphs" / name).read_text())


def _codes_and_text(sdl: str) -> tuple[list[str], str]:
    with pytest.raises(CompositionError) as caught:
        validate_supergraph(sdl)
    return caught.value.codes, str(caught.value)


def test_unparseable_text_is_rejected() -> None:
    codes, text = _codes_and_text("type Query {")

    assert codes == ["INVALID_SUPERGRAPH"]
    assert "does not parse" in text


def test_a_subgraph_schema_is_not_a_supergraph() -> None:
    codes, text = _codes_and_text(fed2("a", "type Query { a: Int }").sdl)

    assert codes == ["INVALID_SUPERGRAPH"]
    assert "schema definition" in text


def test_a_supergraph_without_the_join_link_is_rejected() -> None:
    sdl = compose([fed2("a", "type Query { a: Int }")]).replace(
        '  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)\n', ""
    )

    codes, text = _codes_and_text(sdl)

    assert codes == ["INVALID_SUPERGRAPH"]
    assert "no @link to the join spec" in text


def test_join_versions_before_0_3_are_rejected() -> None:
    sdl = compose([fed2("a", "type Query { a: Int }")]).replace("join/v0.3", "join/v0.2")

    codes, text = _codes_and_text(sdl)

    assert codes == ["INVALID_SUPERGRAPH"]
    assert "needs join v0.3 or later" in text


def test_references_to_undeclared_graphs_are_rejected() -> None:
    sdl = compose([fed2("a", "type Query { a: Int }")]).replace(
        "type Query\n  @join__type(graph: A)", "type Query\n  @join__type(graph: B)"
    )

    codes, text = _codes_and_text(sdl)

    assert codes == ["INVALID_SUPERGRAPH"]
    assert "@join__type(graph: B) names a graph that join__Graph does not declare" in text


def test_unsupported_execution_features_are_rejected() -> None:
    sdl = compose([fed2("a", "type Query { a: Int }")]).replace(
        "{\n  query: Query",
        '  @link(url: "https://specs.apollo.dev/mystery/v0.1", for: EXECUTION)\n{\n  query: Query',
        1,
    )

    codes, text = _codes_and_text(sdl)

    assert codes == ["INVALID_SUPERGRAPH"]
    assert "mystery/v0.1" in text
