"""Fed2 entity rules: @key, @shareable, @external, @requires, @provides."""

from __future__ import annotations

from tests.unit.gateway_composition.composition_support import composed, failure, fed2


def test_every_key_of_every_subgraph_becomes_a_join_type() -> None:
    result = composed(
        fed2(
            "products",
            """
            type Query { product: Product }
            type Product @key(fields: "upc") @key(fields: "sku variation { id }") {
              upc: String! sku: String! variation: Variation! name: String
            }
            type Variation { id: ID! }
            """,
        ),
        fed2(
            "reviews",
            """
            type Query { reviews: [Product] }
            type Product @key(fields: "upc", resolvable: false) { upc: String! }
            """,
        ),
    )

    assert result.join_types("Product") == [
        {"graph": "PRODUCTS", "key": "upc"},
        {"graph": "PRODUCTS", "key": "sku variation { id }"},
        {"graph": "REVIEWS", "key": "upc", "resolvable": False},
    ]
    assert result.graphs() == {
        "PRODUCTS": {"name": "products", "url": "http://products:4000/graphql"},
        "REVIEWS": {"name": "reviews", "url": "http://reviews:4000/graphql"},
    }
    # upc is in every subgraph defining Product: no join__field needed.
    assert result.field_joins("Product", "upc") == []
    assert result.field_joins("Product", "name") == [{"graph": "PRODUCTS"}]


def test_key_on_a_type_extension_is_marked_as_extension() -> None:
    result = composed(
        fed2("a", 'type Query { t: T } type T @key(fields: "id") { id: ID! a: Int }'),
        fed2("b", 'extend type T @key(fields: "id") { id: ID! b: Int }'),
    )

    assert result.join_types("T") == [
        {"graph": "A", "key": "id"},
        {"graph": "B", "key": "id", "extension": True},
    ]


def test_key_selecting_a_union_field_is_rejected_with_the_coordinate() -> None:
    error = failure(
        fed2(
            "a",
            """
            type Query { t: T }
            union U = T
            type T @key(fields: "u { ... on T { id } }") { id: ID! u: U }
            """,
        )
    )

    assert error.codes == ["KEY_FIELDS_SELECT_INVALID_TYPE"]
    assert '[a] On type "T"' in str(error)
    assert 'field "T.u" is a Union type which is not allowed in @key' in str(error)
    assert error.problems[0].subgraphs == ("a",)


def test_key_naming_an_unknown_field_tells_how_to_fix_it() -> None:
    error = failure(fed2("a", 'type Query { t: T } type T @key(fields: "nope") { id: ID! }'))

    assert error.codes == ["KEY_INVALID_FIELDS"]
    assert 'Cannot query field "nope" on type "T"' in str(error)
    assert "add it to this subgraph with @external" in str(error)


def test_non_shareable_field_resolved_by_two_subgraphs_is_rejected() -> None:
    error = failure(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! name: String }'),
        fed2("two", 'type Query { b: T } type T @key(fields: "id") { id: ID! name: String }'),
    )

    assert error.codes == ["INVALID_FIELD_SHARING"]
    problem = error.problems[0]
    assert problem.coordinate == "T.name"
    assert set(problem.subgraphs) == {"one", "two"}
    assert 'resolved from subgraphs "one" and "two"' in problem.message
    assert "defined as non-shareable in all of them" in problem.message


def test_field_shareable_in_only_one_subgraph_names_the_other() -> None:
    error = failure(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! n: Int @shareable }'),
        fed2("two", 'type Query { b: T } type T @key(fields: "id") { id: ID! n: Int }'),
    )

    assert error.codes == ["INVALID_FIELD_SHARING"]
    assert 'defined as non-shareable in subgraph "two"' in str(error)


def test_shareable_fields_and_key_fields_compose_without_join_field() -> None:
    result = composed(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! n: Int @shareable }'),
        fed2(
            "two",
            'type Query { b: T } type T @key(fields: "id") { id: ID! n: Int @shareable }',
        ),
    )

    assert result.field_joins("T", "id") == []
    assert result.field_joins("T", "n") == []


def test_type_level_shareable_makes_every_field_shareable() -> None:
    result = composed(
        fed2("one", "type Query { a: Money } type Money @shareable { amount: Int cur: String }"),
        fed2("two", "type Query { b: Money } type Money @shareable { amount: Int cur: String }"),
    )

    assert result.join_types("Money") == [{"graph": "ONE"}, {"graph": "TWO"}]
    assert result.field_names("Money") == ["amount", "cur"]


def test_requires_and_external_are_recorded_per_subgraph() -> None:
    result = composed(
        fed2(
            "products",
            (
                "type Query { p: Product } "
                'type Product @key(fields: "upc") { upc: String! weight: Int }'
            ),
        ),
        fed2(
            "shipping",
            """
            type Product @key(fields: "upc") {
              upc: String!
              weight: Int @external
              cost: Int @requires(fields: "weight")
            }
            """,
        ),
    )

    assert result.field_joins("Product", "weight") == [
        {"graph": "PRODUCTS"},
        {"graph": "SHIPPING", "external": True},
    ]
    assert result.field_joins("Product", "cost") == [{"graph": "SHIPPING", "requires": "weight"}]


def test_requires_of_a_field_the_subgraph_owns_is_rejected() -> None:
    error = failure(
        fed2(
            "a",
            (
                "type Query { t: T } "
                'type T @key(fields: "id") { id: ID! w: Int x: Int @requires(fields: "w") }'
            ),
        )
    )

    assert error.codes == ["REQUIRES_FIELDS_MISSING_EXTERNAL"]
    assert 'field "T.w" should not be part of a @requires' in str(error)


def test_provides_is_recorded_and_the_provided_field_must_be_shareable_at_its_owner() -> None:
    reviews = fed2(
        "reviews",
        """
        type Query { latest: [Review] }
        type Review { body: String author: User @provides(fields: "username") }
        type User @key(fields: "id") { id: ID! username: String @external }
        """,
    )
    owner_shares = fed2(
        "accounts",
        (
            "type Query { me: User } "
            'type User @key(fields: "id") { id: ID! username: String @shareable }'
        ),
    )
    owner_does_not = fed2(
        "accounts",
        'type Query { me: User } type User @key(fields: "id") { id: ID! username: String }',
    )

    result = composed(owner_shares, reviews)
    error = failure(owner_does_not, reviews)

    assert result.field_joins("Review", "author") == [{"graph": "REVIEWS", "provides": "username"}]
    assert result.field_joins("User", "username") == [
        {"graph": "ACCOUNTS"},
        {"graph": "REVIEWS", "external": True},
    ]
    assert error.codes == ["INVALID_FIELD_SHARING"]
    assert error.problems[0].coordinate == "User.username"


def test_provides_of_a_field_that_is_not_external_is_rejected() -> None:
    error = failure(
        fed2(
            "a",
            (
                'type Query { t: T @provides(fields: "w") } '
                'type T @key(fields: "id") { id: ID! w: Int }'
            ),
        )
    )

    assert error.codes == ["PROVIDES_FIELDS_MISSING_EXTERNAL"]


def test_field_external_in_every_subgraph_is_rejected() -> None:
    error = failure(
        fed2(
            "one",
            (
                "type Query { a: T } "
                'type T @key(fields: "id") { id: ID! w: Int @external '
                'x: Int @requires(fields: "w") }'
            ),
        ),
        fed2(
            "two",
            (
                "type Query { b: T } "
                'type T @key(fields: "id") { id: ID! w: Int @external '
                'y: Int @requires(fields: "w") }'
            ),
        ),
    )

    assert error.codes == ["EXTERNAL_MISSING_ON_BASE"]
    assert 'Field "T.w" is marked @external on all the subgraphs' in str(error)


def test_unused_external_field_is_rejected() -> None:
    error = failure(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! w: Int @external }'),
        fed2("two", 'type Query { b: T } type T @key(fields: "id") { id: ID! w: Int }'),
    )

    assert error.codes == ["EXTERNAL_UNUSED"]
    assert error.problems[0].coordinate == "T.w"


def test_external_field_with_another_type_is_rejected() -> None:
    error = failure(
        fed2("one", 'type Query { a: T } type T @key(fields: "id") { id: ID! w: Int }'),
        fed2(
            "two",
            (
                'type T @key(fields: "id") { '
                ' id: ID! w: String @external x: Int @requires(fields: "w") }'
            ),
        ),
    )

    assert error.codes == ["EXTERNAL_TYPE_MISMATCH"]
    assert 'type "Int" in subgraph "one" but type "String" in subgraph "two"' in str(error)
