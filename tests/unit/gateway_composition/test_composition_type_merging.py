"""Merging of types that differ per subgraph: abstract types, enums, inputs, arguments, roots."""

from __future__ import annotations

from gateway.composition import compose
from tests.unit.gateway_composition.composition_support import composed, failure, fed2


def test_union_members_are_unioned_and_recorded_per_subgraph() -> None:
    result = composed(
        fed2(
            "one",
            (
                "type Query { a: [R] } "
                "union R = Book | Film "
                "type Book { t: String } "
                "type Film { d: Int }"
            ),
        ),
        fed2("two", "type Query { b: [R] } union R = Song type Song { s: String }"),
    )

    node = result.type("R")
    assert [m.name.value for m in node.types] == ["Book", "Film", "Song"]  # type: ignore[attr-defined]
    assert result.directives("R", "join__unionMember") == [
        {"graph": "ONE", "member": "Book"},
        {"graph": "ONE", "member": "Film"},
        {"graph": "TWO", "member": "Song"},
    ]
    assert result.join_types("R") == [{"graph": "ONE"}, {"graph": "TWO"}]


def test_interface_implementations_are_recorded_per_subgraph() -> None:
    result = composed(
        fed2(
            "one",
            """
            type Query { n: Node }
            interface Node { id: ID! }
            type User implements Node @key(fields: "id") { id: ID! name: String @shareable }
            """,
        ),
        fed2(
            "two",
            """
            interface Named { name: String }
            type User implements Named @key(fields: "id") { id: ID! name: String @shareable
            age: Int }
            """,
        ),
    )

    assert result.directives("User", "join__implements") == [
        {"graph": "ONE", "interface": "Node"},
        {"graph": "TWO", "interface": "Named"},
    ]
    assert [i.name.value for i in result.type("User").interfaces] == ["Node", "Named"]  # type: ignore[attr-defined]


def test_output_only_enum_takes_the_union_of_values() -> None:
    result = composed(
        fed2("one", "type Query { a: Color } enum Color { RED GREEN }"),
        fed2("two", "type Query { b: Color } enum Color { RED BLUE }"),
    )

    assert result.enum_values("Color") == {"RED": ["ONE", "TWO"], "GREEN": ["ONE"], "BLUE": ["TWO"]}


def test_input_only_enum_takes_the_intersection_of_values() -> None:
    result = composed(
        fed2("one", "type Query { a(c: Color): Int } enum Color { RED GREEN }"),
        fed2("two", "type Query { b(c: Color): Int } enum Color { RED BLUE }"),
    )

    assert result.enum_values("Color") == {"RED": ["ONE", "TWO"]}


def test_enum_used_as_input_and_output_must_match_everywhere() -> None:
    error = failure(
        fed2("one", "type Query { a(c: Color): Color } enum Color { RED GREEN }"),
        fed2("two", "type Query { b: Color } enum Color { RED BLUE }"),
    )

    assert set(error.codes) == {"ENUM_VALUE_MISMATCH"}
    assert {p.coordinate for p in error.problems} == {"Color.GREEN", "Color.BLUE"}
    assert 'value "GREEN" is not defined in all the subgraphs' in str(error)


def test_input_object_fields_are_intersected() -> None:
    result = composed(
        fed2("one", "type Query { a(f: Filter): Int } input Filter { q: String limit: Int = 5 }"),
        fed2("two", "type Query { b(f: Filter): Int } input Filter { q: String }"),
    )

    assert result.field_names("Filter") == ["q"]
    assert result.join_types("Filter") == [{"graph": "ONE"}, {"graph": "TWO"}]


def test_required_input_field_missing_in_a_subgraph_is_rejected() -> None:
    error = failure(
        fed2("one", "type Query { a(f: Filter): Int } input Filter { q: String! x: Int }"),
        fed2("two", "type Query { b(f: Filter): Int } input Filter { x: Int }"),
    )

    assert error.codes == ["REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH"]
    assert 'it is required in subgraph "one" but does not appear in subgraph "two"' in str(error)


def test_field_arguments_are_intersected_and_required_ones_must_be_everywhere() -> None:
    ok = composed(
        fed2("one", "type Query { a(x: Int, y: Int = 2): Int @shareable }"),
        fed2("two", "type Query { a(y: Int = 2): Int @shareable }"),
    )
    error = failure(
        fed2("one", "type Query { a(x: Int!, y: Int): Int @shareable }"),
        fed2("two", "type Query { a(y: Int): Int @shareable }"),
    )

    assert ok.argument_names("Query", "a") == ["y"]
    assert ok.field_joins("Query", "a") == []
    assert error.codes == ["REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH"]


def test_shareable_field_types_merge_to_the_nullable_one_and_record_each_type() -> None:
    result = composed(
        fed2("one", "type Query { a: P @shareable } type P @shareable { lat: Float! }"),
        fed2("two", "type Query { a: P @shareable } type P @shareable { lat: Float }"),
    )

    assert result.field_type("P", "lat") == "Float"
    assert result.field_joins("P", "lat") == [
        {"graph": "ONE", "type": "Float!"},
        {"graph": "TWO", "type": "Float"},
    ]


def test_incompatible_field_types_are_rejected() -> None:
    error = failure(
        fed2("one", "type Query { a: P @shareable } type P @shareable { v: Int }"),
        fed2("two", "type Query { a: P @shareable } type P @shareable { v: [Int] }"),
    )

    assert error.codes == ["FIELD_TYPE_MISMATCH"]
    assert error.problems[0].coordinate == "P.v"


def test_descriptions_are_kept() -> None:
    result = composed(
        fed2(
            "one",
            '''
            """Where things are."""
            type Place @shareable { "Latitude." lat: Float }
            type Query { here: Place @shareable }
            ''',
        ),
        fed2("two", "type Place @shareable { lat: Float } type Query { here: Place @shareable }"),
    )

    assert result.type("Place").description.value == "Where things are."  # type: ignore[union-attr]
    assert result.field("Place", "lat").description.value == "Latitude."  # type: ignore[union-attr]


def test_renamed_root_types_become_the_standard_roots() -> None:
    result = composed(
        fed2(
            "one",
            """
            schema { query: RootQuery mutation: RootMutation }
            type RootQuery { me: User }
            type RootMutation { rename(n: String!): User }
            type User @key(fields: "id") { id: ID! }
            """,
        ),
        fed2("two", 'type Query { users: [User] } type User @key(fields: "id") { id: ID! }'),
    )

    assert result.roots() == {"query": "Query", "mutation": "Mutation"}
    assert not result.has_type("RootQuery")
    assert result.field_joins("Query", "me") == [{"graph": "ONE"}]
    # Only "one" has a Mutation type, so its fields need no join__field.
    assert result.join_types("Mutation") == [{"graph": "ONE"}]
    assert result.field_joins("Mutation", "rename") == []


def test_federation_internals_are_removed() -> None:
    result = composed(
        fed2(
            "one",
            """
            scalar _Any
            scalar federation__FieldSet
            union _Entity = User
            type _Service { sdl: String }
            directive @custom on FIELD_DEFINITION
            type Query { _service: _Service! _entities(representations: [_Any!]!): [_Entity]!
            me: User @custom }
            type User @key(fields: "id") { id: ID! }
            """,
        )
    )

    names = {d.name.value for d in result.document.definitions if hasattr(d, "name")}
    assert not names & {"_Any", "_Entity", "_Service", "custom", "federation__FieldSet"}
    assert result.field_names("Query") == ["me"]


def test_type_defined_with_different_kinds_is_rejected() -> None:
    error = failure(
        fed2("one", "type Query { a: Thing } type Thing { v: Int }"),
        fed2("two", "type Query { b: Int } interface Thing { v: Int }"),
    )

    assert error.codes == ["TYPE_KIND_MISMATCH"]
    assert 'Object Type in subgraph "one" but Interface Type in subgraph "two"' in str(error)


def test_entity_interface_key_requires_every_implementation_in_that_subgraph() -> None:
    error = failure(
        fed2(
            "one",
            """
            type Query { m: Media }
            interface Media @key(fields: "id") { id: ID! }
            type Book implements Media @key(fields: "id") { id: ID! }
            """,
        ),
        fed2(
            "two",
            """
            interface Media { id: ID! }
            type Film implements Media @key(fields: "id") { id: ID! }
            type Query { films: [Film] }
            """,
        ),
    )

    assert "INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE" in error.codes
    assert 'should define type "Film"' in str(error)


def test_join_version_follows_the_newest_federation_version_linked() -> None:
    old = fed2("old", "type Query { a: Int }", version="2.3")
    new = fed2("new", "type Query { b: Int }", version="2.9")

    assert {"url": "https://specs.apollo.dev/join/v0.3", "for": "EXECUTION"} in composed(
        old
    ).links()
    newest = composed(old, new)
    assert {"url": "https://specs.apollo.dev/join/v0.5", "for": "EXECUTION"} in newest.links()
    assert newest.has_type("join__ContextArgument")


def test_join_version_can_be_forced_to_0_3() -> None:
    sdl = compose([fed2("new", "type Query { b: Int }", version="2.9")], join_version=(0, 3))

    assert '@link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)' in sdl
    assert "join__ContextArgument" not in sdl
