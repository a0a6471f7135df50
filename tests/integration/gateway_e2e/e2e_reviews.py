"""The ``reviews`` subgraph: reviews of products by users, ``addReview`` and ``reviewAdded``.

It extends ``User`` and ``Product`` (owned by accounts and products) with their
reviews, computes ``Product.shippingEstimate`` from the products subgraph's
``weight`` (@requires), and streams new reviews over graphql-transport-ws. A
review event carries only keys of ``User``/``Product``: the gateway must fetch
their other fields from the other subgraphs for every event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import strawberry

from tests.integration.gateway_e2e.e2e_subgraph_app import Served, bearer_subject, build

SEED = (
    ("r1", "p1", "1", "Love it"),
    ("r2", "p1", "2", "Too big"),
    ("r3", "p2", "3", "Could be softer"),
    ("r4", "p3", "1", "Sturdy"),
)


@dataclass(frozen=True)
class StoredReview:
    id: str
    upc: str
    author_id: str
    body: str


@dataclass
class ReviewFeed:
    """The live subscriptions of ``reviewAdded``, counted so tests see their lifecycle."""

    queues: set[asyncio.Queue[StoredReview]] = field(default_factory=set)
    started: int = 0
    finished: int = 0
    authorizations: list[str | None] = field(default_factory=list)
    """The ``authorization`` each subscription's WebSocket upgrade carried."""
    init_payloads: list[object] = field(default_factory=list)
    """The ``connection_init`` payload of each subscription's connection."""

    def publish(self, review: StoredReview) -> None:
        for queue in self.queues:
            queue.put_nowait(review)

    async def stream(self, upc: str | None, limit: int | None) -> AsyncGenerator[StoredReview]:
        queue: asyncio.Queue[StoredReview] = asyncio.Queue()
        self.queues.add(queue)
        self.started += 1
        try:
            sent = 0
            while limit is None or sent < limit:
                review = await queue.get()
                if upc is None or review.upc == upc:
                    sent += 1
                    yield review
        finally:
            self.queues.discard(queue)
            self.finished += 1


@dataclass
class ReviewsState:
    reviews: list[StoredReview] = field(default_factory=list)
    feed: ReviewFeed = field(default_factory=ReviewFeed)

    def reset(self) -> None:
        self.reviews = [StoredReview(*row) for row in SEED]
        self.feed = ReviewFeed()


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID

    @strawberry.field
    def reviews(self, info: strawberry.Info) -> list[Review]:
        state: ReviewsState = info.context["state"]
        return [_review(r) for r in state.reviews if r.author_id == str(self.id)]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return User(id=id)


@strawberry.federation.type(keys=["upc"])
class Product:
    upc: str
    weight: int | None = strawberry.federation.field(external=True, default=None)

    @strawberry.field
    def reviews(self, info: strawberry.Info, first: int | None = None) -> list[Review]:
        state: ReviewsState = info.context["state"]
        found = [_review(r) for r in state.reviews if r.upc == self.upc]
        return found if first is None else found[:first]

    @strawberry.federation.field(requires=["weight"])
    def shipping_estimate(self) -> int | None:
        # Heavy items ship at a flat rate: a rule only this subgraph knows.
        if self.weight is None:
            return None
        return 50 if self.weight > 500 else self.weight // 10

    @classmethod
    def resolve_reference(cls, upc: str, weight: int | None = None) -> Product:
        return Product(upc=upc, weight=weight)


@strawberry.type
class Review:
    id: strawberry.ID
    body: str
    author: User
    product: Product


def _review(stored: StoredReview) -> Review:
    return Review(
        id=strawberry.ID(stored.id),
        body=stored.body,
        author=User(id=strawberry.ID(stored.author_id)),
        product=Product(upc=stored.upc),
    )


@strawberry.type
class Query:
    @strawberry.field
    def review(self, info: strawberry.Info, id: strawberry.ID) -> Review | None:
        state: ReviewsState = info.context["state"]
        return next((_review(r) for r in state.reviews if r.id == str(id)), None)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def add_review(
        self, info: strawberry.Info, upc: str, body: str, author_id: strawberry.ID | None = None
    ) -> Review:
        """Without ``authorId`` the review is by the caller (the forwarded token's subject)."""
        state: ReviewsState = info.context["state"]
        author = str(author_id) if author_id is not None else bearer_subject(info)
        if author is None:
            raise PermissionError("addReview needs authorId or a bearer token")
        stored = StoredReview(f"r{len(state.reviews) + 1}", upc, author, body)
        state.reviews.append(stored)
        state.feed.publish(stored)
        return _review(stored)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def review_added(
        self, info: strawberry.Info, upc: str | None = None, limit: int | None = None
    ) -> AsyncGenerator[Review]:
        state: ReviewsState = info.context["state"]
        feed = state.feed
        feed.authorizations.append(info.context["request"].headers.get("authorization"))
        feed.init_payloads.append(info.context.get("connection_params"))
        async for stored in feed.stream(upc, limit):
            yield _review(stored)


def reviews() -> Served:
    state = ReviewsState()
    state.reset()
    schema = strawberry.federation.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, types=[User, Product]
    )
    return build("reviews", schema, state)
