"""The "media" test graph: entity interfaces, @interfaceObject, unions differing per subgraph,
@override, @inaccessible, composite nested keys and shareable root fields."""

from __future__ import annotations

from typing import Any

from tests.unit.gateway_engine.engine_subgraph import Subgraph

CATALOG_SDL = """
type Query {
  media: [Media]
  search: [SearchResult]
  book(id: ID!): Book @shareable
}
interface Media @key(fields: "id") {
  id: ID!
  title: String
}
type Book implements Media @key(fields: "id") {
  id: ID!
  title: String
  pages: Int
  price: Money @shareable
  location: Location
}
type Movie implements Media @key(fields: "id") {
  id: ID!
  title: String
  minutes: Int
}
union SearchResult = Book | Movie
type Money @shareable {
  amount: Int
  currency: String
}
type Location @key(fields: "building { id } room", resolvable: false) {
  building: Building!
  room: String!
}
type Building @shareable {
  id: ID!
}
"""

RATINGS_SDL = """
type Query {
  topRated: [Media]
}
type Media @key(fields: "id") @interfaceObject {
  id: ID!
  stars: Int
  votes: Int
}
"""

LIBRARY_SDL = """
type Query {
  librarySearch: [SearchResult]
  book(id: ID!): Book @shareable
}
union SearchResult = Book | Magazine
type Book @key(fields: "id") {
  id: ID!
  loans: Int
  pages: Int @override(from: "catalog")
  secretShelf: String @inaccessible
  price: Money @shareable
}
type Money @shareable {
  amount: Int
}
type Magazine @key(fields: "id") {
  id: ID!
  issue: Int
}
type Location @key(fields: "building { id } room") {
  building: Building!
  room: String!
  capacity: Int
}
type Building @shareable {
  id: ID!
}
"""

SDLS = {"catalog": CATALOG_SDL, "ratings": RATINGS_SDL, "library": LIBRARY_SDL}

BOOKS = {"b1": ("Dune", 412), "b2": ("Emma", 300)}
MOVIES = {"m1": ("Alien", 117)}
STARS = {"b1": 5, "b2": 3, "m1": 4}


def make_media() -> dict[str, Subgraph]:
    def book(bid: str) -> dict[str, Any] | None:
        if bid not in BOOKS:
            return None
        return {
            "__typename": "Book",
            "id": bid,
            "title": BOOKS[bid][0],
            "pages": -1,  # overridden by library: must never be read from here
            "price": {"amount": 10, "currency": "EUR"},
            "location": {
                "__typename": "Location",
                "building": {"id": "main"},
                "room": f"room-{bid}",
            },
        }

    def movie(mid: str) -> dict[str, Any]:
        return {
            "__typename": "Movie",
            "id": mid,
            "title": MOVIES[mid][0],
            "minutes": MOVIES[mid][1],
        }

    def catalog_media(rep: dict[str, Any]) -> Any:
        rid = rep["id"]
        return book(rid) if rid.startswith("b") else movie(rid)

    catalog = Subgraph(
        "catalog",
        CATALOG_SDL,
        root={
            "media": lambda _i: [book("b1"), movie("m1"), book("b2")],
            "search": lambda _i: [movie("m1"), book("b2")],
            "book": lambda _i, id: book(id),
        },
        entities={"Book": catalog_media, "Movie": catalog_media, "Media": catalog_media},
    )
    ratings = Subgraph(
        "ratings",
        RATINGS_SDL,
        root={
            "topRated": lambda _i: [
                {"__typename": "Media", "id": "m1", "stars": 4, "votes": 40},
                {"__typename": "Media", "id": "b1", "stars": 5, "votes": 50},
            ]
        },
        entities={
            "Media": lambda rep: {
                "id": rep["id"],
                "stars": STARS.get(rep["id"]),
                "votes": 10 * STARS.get(rep["id"], 0),
            }
        },
    )

    def library_book(bid: str) -> dict[str, Any]:
        return {
            "__typename": "Book",
            "id": bid,
            "loans": 7 if bid == "b1" else 2,
            "pages": BOOKS[bid][1],
            "secretShelf": "vault",
            "price": {"amount": 10},
        }

    library = Subgraph(
        "library",
        LIBRARY_SDL,
        root={
            "librarySearch": lambda _i: [
                library_book("b1"),
                {"__typename": "Magazine", "id": "g1", "issue": 42},
            ],
            "book": lambda _i, id: library_book(id),
        },
        entities={
            "Book": lambda rep: library_book(rep["id"]),
            "Magazine": lambda rep: {"id": rep["id"], "issue": 42},
            "Location": lambda rep: {
                "building": rep["building"],
                "room": rep["room"],
                "capacity": 10 if rep["building"]["id"] == "main" else 0,
            },
        },
    )
    return {s.name: s for s in (catalog, ratings, library)}
