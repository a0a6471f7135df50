"""Federation 1 subgraphs (no @link) compose the way Federation 2 reads them."""

from __future__ import annotations

from tests.unit.gateway_composition.composition_support import composed, failure, fed1, fed2

PRODUCTS = fed1(
    "products",
    """
    extend type Query { topProducts: [Product] }
    type Product @key(fields: "upc") { upc: String! name: String weight: Int }
    """,
)


def test_extend_type_key_fields_marked_external_are_not_external() -> None:
    result = composed(
        PRODUCTS,
        fed1(
            "inventory",
            """
            extend type Product @key(fields: "upc") {
              upc: String! @external
              weight: Int @external
              inStock: Boolean @requires(fields: "weight")
            }
            """,
        ),
    )

    assert result.join_types("Product") == [
        {"graph": "INVENTORY", "key": "upc"},
        {"graph": "PRODUCTS", "key": "upc"},
    ]
    assert result.field_joins("Product", "upc") == []
    assert result.field_joins("Product", "weight") == [
        {"graph": "INVENTORY", "external": True},
        {"graph": "PRODUCTS"},
    ]
    assert result.field_joins("Product", "inStock") == [
        {"graph": "INVENTORY", "requires": "weight"}
    ]


def test_extends_directive_is_recorded_as_an_extension() -> None:
    result = composed(
        PRODUCTS,
        fed1(
            "reviews",
            """
            type Product @key(fields: "upc") @extends { upc: String! @external reviews: [String] }
            """,
        ),
    )

    assert {"graph": "REVIEWS", "key": "upc", "extension": True} in result.join_types("Product")


def test_unused_external_fields_are_dropped_instead_of_rejected() -> None:
    result = composed(
        PRODUCTS,
        fed1(
            "reviews",
            """
            extend type Product @key(fields: "upc") {
              upc: String! @external
              name: String @external
              reviews: [String]
            }
            """,
        ),
    )

    assert result.field_joins("Product", "name") == [{"graph": "PRODUCTS"}]


def test_value_types_and_root_fields_are_implicitly_shareable() -> None:
    result = composed(
        fed1("a", "type Query { money: Money } type Money { amount: Int currency: String }"),
        fed1("b", "extend type Query { money: Money } type Money { amount: Int currency: String }"),
    )

    assert result.join_types("Money") == [{"graph": "A"}, {"graph": "B"}]
    assert result.field_joins("Query", "money") == []


def test_fed1_value_types_must_still_agree_on_field_types() -> None:
    error = failure(
        fed1("a", "type Query { money: Money } type Money { amount: Int }"),
        fed1("b", "extend type Query { other: Money } type Money { amount: String }"),
    )

    assert error.codes == ["FIELD_TYPE_MISMATCH"]


def test_fed1_and_fed2_subgraphs_compose_together() -> None:
    result = composed(
        fed1(
            "legacy",
            """
            type Query { orders: [Order] }
            type Order @key(fields: "id") { id: ID! customer: Customer }
            extend type Customer @key(fields: "id") { id: ID! @external orders: [Order] }
            """,
        ),
        fed2(
            "modern",
            (
                "type Query { customer(id: ID!): Customer } "
                'type Customer @key(fields: "id") { id: ID! email: String }'
            ),
        ),
    )

    assert result.join_types("Customer") == [
        {"graph": "LEGACY", "key": "id"},
        {"graph": "MODERN", "key": "id"},
    ]
    assert result.field_joins("Customer", "orders") == [{"graph": "LEGACY"}]
    assert result.field_joins("Customer", "id") == []


def test_extension_of_a_type_nobody_defines_is_rejected() -> None:
    error = failure(
        fed1("a", 'type Query { t: T } extend type T @key(fields: "id") { id: ID! @external }')
    )

    assert error.codes == ["EXTENSION_WITH_NO_BASE"]
