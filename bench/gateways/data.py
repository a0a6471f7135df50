"""Deterministic catalogue the subgraphs serve: every run and every gateway sees the same data."""

from __future__ import annotations

import functools
from typing import Any

Row = dict[str, Any]

USER_COUNT = 1000
PRODUCT_COUNT = 1000
REVIEWS_PER_PRODUCT = 2
CITIES = ("Lisbon", "Oslo", "Kyoto", "Lima", "Accra", "Perth", "Quebec", "Tallinn")


def user(user_id: str) -> Row | None:
    number = _number(user_id, USER_COUNT)
    if number is None:
        return None
    return {
        "id": user_id,
        "name": f"User {number}",
        "username": f"user{number}",
        "email": f"user{number}@example.com",
    }


def product(upc: str) -> Row | None:
    number = _number(upc, PRODUCT_COUNT)
    if number is None:
        return None
    return {
        "upc": upc,
        "name": f"Product {number}",
        "price": 100 * number + 99,
        "weight": 7 * number,
    }


def top_products(first: int, offset: int = 0) -> list[Row]:
    start = max(offset, 0) + 1
    rows = (product(str(n)) for n in range(start, min(start + first, PRODUCT_COUNT + 1)))
    return [row for row in rows if row is not None]


def recently_viewed(user_id: str) -> list[Row]:
    number = int(user_id)
    upcs = (number * 31) % PRODUCT_COUNT + 1, (number * 77 + 2) % PRODUCT_COUNT + 1
    return [{"upc": str(upc)} for upc in upcs]


def in_stock(upc: str) -> bool:
    return int(upc) % 3 != 0


def shipping_estimate(price: int, weight: int) -> int:
    # Depends on both required fields, so a gateway that forgets one gets a wrong answer.
    return 0 if price > 800 else weight // 2 + 1


def shipping_options(weight: int) -> list[Row]:
    return [
        {"carrier": "standard", "days": 5, "cost": 200 + weight * 3},
        {"carrier": "express", "days": 1, "cost": 900 + weight * 8},
    ]


def address(user_id: str) -> Row:
    number = int(user_id)
    return {"city": CITIES[number % len(CITIES)], "country": f"C{number % 3}"}


def review(review_id: str) -> Row | None:
    upc, _, index = review_id.partition("-")
    if product(upc) is None or not index.isdigit() or int(index) >= REVIEWS_PER_PRODUCT:
        return None
    number, k = int(upc), int(index)
    author = str((number * 37 + k * 503) % USER_COUNT + 1)
    return {
        "id": review_id,
        "body": f"Review {k} of product {number}: " + "solid " * (k + 2),
        "rating": (number + k) % 5 + 1,
        # Review.author @provides(fields: "username"): this subgraph carries it.
        "author": {"id": author, "username": f"user{author}"},
        "product": {"upc": upc},
    }


def reviews_of_product(upc: str) -> list[Row]:
    rows = (review(f"{upc}-{k}") for k in range(REVIEWS_PER_PRODUCT))
    return [row for row in rows if row is not None]


def reviews_by_author(user_id: str) -> list[Row]:
    return list(_reviews_by_author().get(user_id, ()))


@functools.cache
def _reviews_by_author() -> dict[str, tuple[Row, ...]]:
    index: dict[str, list[Row]] = {}
    for n in range(1, PRODUCT_COUNT + 1):
        for row in reviews_of_product(str(n)):
            index.setdefault(row["author"]["id"], []).append(row)
    return {author: tuple(rows) for author, rows in index.items()}


def _number(text: str, upper: int) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= upper else None
