"""@override, @inaccessible, @interfaceObject, @tag, renamed imports, and satisfiability."""

from __future__ import annotations

from graphql import FieldDefinitionNode

from gateway.composition import SubgraphDefinition, compose_with_hints
from tests.unit.gateway_composition.composition_support import composed, failure, fed2


def test_override_moves_the_field_and_drops_the_unused_original() -> None:
    result = composed(
        fed2("old", 'type Query { t: T } type T @key(fields: "id") { id: ID! price: Int }'),
        fed2("new", 'type T @key(fields: "id") { id: ID! price: Int @override(from: "old") }'),
    )

    assert result.field_joins("T", "price") == [{"graph": "NEW", "override": "old"}]


def test_overridden_field_still_used_by_a_key_is_kept_as_used_overridden() -> None:
    result = composed(
        fed2(
            "old",
            (
                "type Query { t: T } "
                'type T @key(fields: "id") @key(fields: "sku") { id: ID! sku: String! }'
            ),
        ),
        fed2("new", 'type T @key(fields: "id") { id: ID! sku: String! @override(from: "old") }'),
    )

    assert result.field_joins("T", "sku") == [
        {"graph": "NEW", "override": "old"},
        {"graph": "OLD", "usedOverridden": True},
    ]


def test_override_from_an_unknown_subgraph_is_kept_with_a_hint() -> None:
    outcome = compose_with_hints(
        [
            fed2("a", 'type Query { t: T } type T @key(fields: "id") { id: ID! x: Int }'),
            fed2("b", 'type T @key(fields: "id") { id: ID! y: Int @override(from: "gone") }'),
        ]
    )

    assert "FROM_SUBGRAPH_DOES_NOT_EXIST" in [h.code for h in outcome.hints]
    assert '@join__field(graph: B, override: "gone")' in outcome.supergraph_sdl


def test_override_from_itself_is_rejected() -> None:
    error = failure(
        fed2(
            "a",
            'type Query { t: T } type T @key(fields: "id") { id: ID! x: Int @override(from: "a") }',
        )
    )

    assert error.codes == ["OVERRIDE_FROM_SELF_ERROR"]


def test_inaccessible_propagates_and_links_the_inaccessible_spec() -> None:
    result = composed(
        fed2(
            "a",
            """
            type Query { t(debug: Boolean @inaccessible): T }
            type T @key(fields: "id") { id: ID! cost: Int @inaccessible @shareable }
            enum Level { LOW HIGH @inaccessible }
            type Extra { l: Level }
            """,
        ),
        fed2("b", 'type T @key(fields: "id") { id: ID! cost: Int @shareable }'),
    )

    assert {
        "url": "https://specs.apollo.dev/inaccessible/v0.2",
        "for": "SECURITY",
    } in result.links()
    assert "inaccessible" in result.field_directive_names("T", "cost")
    assert "inaccessible" in result.enum_value_directives("Level", "HIGH")
    query_t = result.field("Query", "t")
    assert isinstance(query_t, FieldDefinitionNode)
    assert query_t.arguments
    assert [d.name.value for d in query_t.arguments[0].directives or ()] == ["inaccessible"]


def test_accessible_field_returning_an_inaccessible_type_is_rejected() -> None:
    error = failure(fed2("a", "type Query { s: Secret } type Secret @inaccessible { v: Int }"))

    assert error.codes == ["REFERENCED_INACCESSIBLE"]
    assert 'Type "Secret" is @inaccessible but is referenced by "Query.s"' in str(error)


def test_interface_object_adds_fields_to_every_implementation() -> None:
    result = composed(
        fed2(
            "media",
            """
            type Query { m: Media }
            interface Media @key(fields: "id") { id: ID! title: String }
            type Book implements Media @key(fields: "id") { id: ID! title: String }
            """,
        ),
        fed2(
            "ratings",
            'type Media @key(fields: "id") @interfaceObject { id: ID! stars: Int }',
        ),
    )

    assert result.join_types("Media") == [
        {"graph": "MEDIA", "key": "id"},
        {"graph": "RATINGS", "key": "id", "isInterfaceObject": True},
    ]
    assert result.field_joins("Media", "stars") == [{"graph": "RATINGS"}]
    # Book gets the field with a bare @join__field: only the interface object resolves it.
    assert result.field_joins("Book", "stars") == [{}]


def test_interface_object_subgraph_must_not_define_implementations() -> None:
    error = failure(
        fed2(
            "one",
            """
            type Query { a: Node }
            interface Node @key(fields: "id") { id: ID! }
            type Book implements Node @key(fields: "id") { id: ID! }
            """,
        ),
        fed2(
            "two",
            """
            type Node @key(fields: "id") @interfaceObject { id: ID! extra: Int }
            type Book @key(fields: "id") { id: ID! }
            """,
        ),
    )

    assert "INTERFACE_OBJECT_USAGE_ERROR" in error.codes


def test_tags_are_kept_under_a_renamed_import() -> None:
    header = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed", '
        'import: [{name: "@key", as: "@id"}, {name: "@tag", as: "@label"}])\n'
    )
    sdl = header + (
        'type Query { t: T @label(name: "public") } '
        'type T @id(fields: "id") @label(name: "team-a") { id: ID! v: Int @fed__shareable }'
    )
    result = composed(SubgraphDefinition("a", "http://a", sdl))

    assert {
        "url": "https://specs.apollo.dev/tag/v0.3",
        "import": [{"name": "@tag", "as": "@label"}],
    } in result.links()
    assert result.directives("T", "label") == [{"name": "team-a"}]
    assert result.join_types("T") == [{"graph": "A", "key": "id"}]
    assert "label" in result.field_directive_names("Query", "t")


def test_unknown_directive_is_rejected() -> None:
    error = failure(fed2("a", "type Query { a: Int @nope }"))

    assert error.codes == ["INVALID_GRAPHQL"]
    assert 'Unknown directive "@nope"' in str(error)


def test_value_type_field_missing_where_the_type_is_reachable_is_unsatisfiable() -> None:
    error = failure(
        fed2(
            "one",
            (
                "type Query { a: T } "
                'type T @key(fields: "id") { id: ID! org: Org } '
                "type Org @shareable { id: ID! }"
            ),
        ),
        fed2("two", "type Query { b: Int } type Org @shareable { id: ID! name: String }"),
    )

    assert error.codes == ["SATISFIABILITY_ERROR"]
    message = str(error)
    assert 'cannot find field "Org.name"' in message
    assert 'because type "Org" has no @key defined in subgraph "two"' in message
    assert "a {\n    org {\n      name" in message


def test_field_reachable_through_a_key_is_satisfiable() -> None:
    result = composed(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! }'),
        fed2("two", 'type T @key(fields: "id") { id: ID! extra: Int }'),
    )

    assert result.field_joins("T", "extra") == [{"graph": "TWO"}]


def test_every_problem_is_reported_at_once() -> None:
    error = failure(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! n: Int c: Int }'),
        fed2(
            "two",
            'type Query { b: T } type T @key(fields: "id") { id: ID! n: Int c: String @shareable }',
        ),
    )

    assert sorted(error.codes) == [
        "FIELD_TYPE_MISMATCH",
        "INVALID_FIELD_SHARING",
        "INVALID_FIELD_SHARING",
    ]
    assert {p.coordinate for p in error.problems} == {"T.n", "T.c"}


def test_namespaced_federation_directives_work_without_import() -> None:
    header = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [])\n'
    sdl = header + (
        'type Query { t: T } type T @federation__key(fields: "id") '
        "{ id: ID! v: Int @federation__shareable }"
    )
    other = fed2("b", 'type T @key(fields: "id") { id: ID! v: Int @shareable }')

    result = composed(SubgraphDefinition("a", "http://a", sdl), other)

    assert result.join_types("T") == [{"graph": "A", "key": "id"}, {"graph": "B", "key": "id"}]
    assert result.field_joins("T", "v") == []


def test_subscription_fields_are_joined_to_their_subgraph() -> None:
    result = composed(
        fed2("a", "type Query { a: Int } type Subscription { ticks: Int }"),
        fed2("b", "type Query { b: Int }"),
    )

    assert result.roots()["subscription"] == "Subscription"
    assert result.join_types("Subscription") == [{"graph": "A"}]


def test_shareable_subscription_field_is_rejected() -> None:
    error = failure(fed2("a", "type Query { a: Int } type Subscription { ticks: Int @shareable }"))

    assert error.codes == ["INVALID_FIELD_SHARING"]
    assert "root level subscription" in str(error)


def test_federation_directives_the_gateway_cannot_honour_are_refused() -> None:
    header = (
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", '
        'import: ["@key", "@requiresScopes"])\n'
    )
    sdl = header + 'type Query { secret: Int @requiresScopes(scopes: [["admin"]]) }'

    error = failure(SubgraphDefinition("a", "http://a", sdl))

    assert error.codes == ["UNSUPPORTED_FEDERATION_DIRECTIVE"]
    assert "@requiresScopes is not supported" in str(error)


def test_progressive_override_labels_are_refused_rather_than_ignored() -> None:
    error = failure(
        fed2("old", 'type Query { t: T } type T @key(fields: "id") { id: ID! p: Int }', "2.7"),
        fed2(
            "new",
            'type T @key(fields: "id") '
            '{ id: ID! p: Int @override(from: "old", label: "percent(5)") }',
            "2.7",
        ),
    )

    assert "UNSUPPORTED_FEDERATION_DIRECTIVE" in error.codes
    assert 'label "percent(5)"' in str(error)
