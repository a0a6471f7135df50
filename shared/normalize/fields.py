"""Field groups of a Segment message: person traits, money, external ids.

Helpers of :mod:`shared.normalize.messages`; each records what is wrong in a
:class:`Problems` under the field's path instead of raising, so one
validation error can name every offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from shared.normalize import canonical
from shared.normalize.canonical import CanonicalError

DEFAULT_CURRENCY = "USD"  # Segment's rule for revenue sent without a currency
MONEY_FIELDS = ("revenue", "total", "value", "price")


class ExternalId(TypedDict):
    id: str
    type: str
    collection: str
    encoding: str


class Problems:
    """Collects field problems under a path prefix (``batch[3].``)."""

    __slots__ = ("found", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.found: dict[str, str] = {}

    def add(self, field: str, reason: str) -> None:
        self.found[f"{self.prefix}{field}"] = reason


def person_traits(
    traits: dict[str, Any], context: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Any]:
    email = traits.get("email")
    phone = traits.get("phone")
    if email is None and phone is None:
        return traits
    traits = dict(traits)
    if email is not None:
        try:
            traits["email"] = canonical.email(email)
        except CanonicalError as exc:
            problems.add(f"{path}.email", str(exc))
    if phone is not None:
        address = traits.get("address")
        country = traits.get("country")
        if country is None and isinstance(address, dict):
            country = address.get("country")
        region = canonical.region_of(context.get("locale"), country)
        try:
            traits["phone"] = canonical.phone(phone, region)
        except CanonicalError as exc:
            problems.add(f"{path}.phone", str(exc))
    return traits


def money(
    properties: dict[str, Any], problems: Problems
) -> tuple[dict[str, Any], dict[str, str] | None]:
    amounts: dict[str, str] = {}
    for field in MONEY_FIELDS:
        value = properties.get(field)
        if value is not None:
            try:
                amounts[field] = canonical.decimal_text(canonical.money(value))
            except CanonicalError as exc:
                problems.add(f"properties.{field}", str(exc))
    products = properties.get("products")
    priced_products = None
    if isinstance(products, list):
        priced_products = _product_prices(products, problems)
    currency = properties.get("currency")
    if currency is None and not amounts:
        if priced_products is None:
            return properties, None
        return {**properties, "products": priced_products}, None
    code = DEFAULT_CURRENCY
    if currency is not None:
        try:
            code = canonical.currency(currency)
        except CanonicalError as exc:
            problems.add("properties.currency", str(exc))
    normalized = {**properties, **amounts, "currency": code}
    if priced_products is not None:
        normalized["products"] = priced_products
    return normalized, ({**amounts, "currency": code} if amounts else None)


def _product_prices(products: list[Any], problems: Problems) -> list[Any] | None:
    changed = False
    out: list[Any] = []
    for index, product in enumerate(products):
        if isinstance(product, dict) and product.get("price") is not None:
            try:
                price = canonical.decimal_text(canonical.money(product["price"]))
            except CanonicalError as exc:
                problems.add(f"properties.products[{index}].price", str(exc))
                price = product["price"]
            if price != product["price"]:
                product = {**product, "price": price}
                changed = True
        out.append(product)
    return out if changed else None


def external_ids(raw: Any, problems: Problems) -> list[ExternalId]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add("context.externalIds", "must be a list of {id, type, collection, encoding}")
        return []
    out: list[ExternalId] = []
    for index, entry in enumerate(raw):
        where = f"context.externalIds[{index}]"
        if not isinstance(entry, dict):
            problems.add(where, "must be an object {id, type, collection, encoding}")
            continue
        ok = True
        values: dict[str, str] = {}
        for field, default in (("id", None), ("type", None), ("collection", "users")):
            value = entry.get(field, default)
            if isinstance(value, int) and not isinstance(value, bool) and field == "id":
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                problems.add(f"{where}.{field}", "must be a non-empty string")
                ok = False
            else:
                values[field] = value.strip()
        encoding = entry.get("encoding", "none")
        if not isinstance(encoding, str):
            problems.add(f"{where}.encoding", "must be a string such as 'none'")
            ok = False
        if ok:
            out.append(
                {
                    "id": values["id"],
                    "type": values["type"],
                    "collection": values["collection"],
                    "encoding": str(encoding),
                }
            )
    return out
