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
    traits: dict[str, Any],
    context: Mapping[str, Any],
    path: str,
    problems: Problems,
    default_region: str | None = None,
) -> dict[str, Any]:
    """The traits with email and phone canonical; a national phone number is read in the
    event's country or locale, else in ``default_region`` (``THREADLINE_DEFAULT_PHONE_REGION``)."""
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
        region = canonical.region_of(context.get("locale"), country) or default_region
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


MAX_DEPTH = 32
"""How deeply objects and arrays may nest in a message (the message itself is level 1).

Far above any real payload, and far below what travels and is stored after it:
an event sits a few levels down in its CloudEvent (and batch envelope, limit
255 in the JSON serializer) and in its MongoDB document (limit 100)."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def storable(value: dict[str, Any], problems: Problems, path: str = "") -> bool:
    """Record what the database cannot hold anywhere in ``value``; False if it nests too deep.

    MongoDB stores integers as 64-bit, and its field names can be neither empty
    (a trait or consent named ``""`` has no update path) nor hold a NUL byte;
    nothing can store nesting past :data:`MAX_DEPTH`. Such a message is refused
    at the door with the field named, instead of failing in the worker. When
    the nesting is too deep the walk stops there (the value cannot even be
    serialized), so callers should not look further into the message.
    """
    return _storable_object(value, path, 1, problems)


def _storable_object(value: dict[str, Any], path: str, depth: int, problems: Problems) -> bool:
    if depth > MAX_DEPTH:
        problems.add(path, _too_deep())
        return False
    for key, item in value.items():
        if not key:
            _at(problems, path, 'has an empty key (""); give the field a name')
        elif "\x00" in key:
            _at(
                problems,
                path,
                f"key {key[:40]!r} contains a NUL character (\\u0000), which the database "
                "cannot store in a field name; remove it",
            )
        kind = type(item)
        if kind is str or kind is float or kind is bool or item is None:
            continue
        where = f"{path}.{key}" if path else key
        if kind is int:
            _storable_int(item, where, problems)
        elif kind is dict:
            if not _storable_object(item, where, depth + 1, problems):
                return False
        elif kind is list and not _storable_list(item, where, depth + 1, problems):
            return False
    return True


def _storable_list(value: list[Any], path: str, depth: int, problems: Problems) -> bool:
    if depth > MAX_DEPTH:
        problems.add(path, _too_deep())
        return False
    for index, item in enumerate(value):
        kind = type(item)
        if kind is str or kind is float or kind is bool or item is None:
            continue
        where = f"{path}[{index}]"
        if kind is int:
            _storable_int(item, where, problems)
        elif kind is dict:
            if not _storable_object(item, where, depth + 1, problems):
                return False
        elif kind is list and not _storable_list(item, where, depth + 1, problems):
            return False
    return True


def _storable_int(value: int, path: str, problems: Problems) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        problems.add(
            path,
            f"integer {value} is outside the 64-bit range the database holds "
            f"({INT64_MIN} to {INT64_MAX}); send it as a string",
        )


def _at(problems: Problems, path: str, reason: str) -> None:
    if path:
        problems.add(path, reason)
    else:  # the message itself: "body", or "batch[3]" inside a batch
        problems.found[problems.prefix.rstrip(".") or "body"] = reason


def _too_deep() -> str:
    return (
        f"nests objects and arrays deeper than {MAX_DEPTH} levels; flatten it "
        f"(at most {MAX_DEPTH} levels per message)"
    )
