"""The segment part of the profile subgraph.

``Query.segments`` / ``Query.segment(id)`` (scope customers:read), ``createSegment`` /
``updateSegment`` / ``deleteSegment`` (scope admin), ``Segment.members`` (cursor
paginated), and the membership behind ``Customer.segments``. ``graph.py`` mounts the
fields; this module does not import it at load time (``Customer`` is a lazy type).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON
from strawberry.types import Info

from services.profile import segment_admin
from services.profile.adapters.directory_ports import CustomerDirectory
from services.profile.adapters.segment_ports import SegmentJob as JobState
from services.profile.adapters.segment_ports import SegmentStore
from services.profile.domain import ProfileError
from services.profile.domain.customer import Customer as CustomerState
from services.profile.domain.customer import SegmentMembership
from services.profile.domain.segment_membership import Membership, SegmentDefinition
from services.profile.domain.segment_schema import CONDITION_SCHEMA
from services.profile.domain.segments import SegmentConditionError
from shared.auth import Principal
from shared.events import utcnow
from shared.subgraph import require_scope

if TYPE_CHECKING:
    from services.profile.api.graph import Customer
    from services.profile.api.loaders import ProfileLoaders

READ = "customers:read"
ADMIN = "admin"
MAX_PAGE = 100


@dataclass
class SegmentAccess:
    """Per request: the segment store, the customer directory, batched membership reads."""

    store: SegmentStore
    directory: CustomerDirectory | None = None
    search_traits: tuple[str, ...] = ()
    clock: Callable[[], datetime] = utcnow
    memberships: DataLoader[str, dict[str, Membership]] = field(init=False)

    def __post_init__(self) -> None:
        self.memberships = DataLoader(load_fn=self._memberships)
        self._definitions: dict[str, SegmentDefinition] | None = None

    async def _memberships(self, customer_ids: list[str]) -> list[dict[str, Membership]]:
        found = await self.store.memberships(customer_ids)
        return [found.get(cid, {}) for cid in customer_ids]

    async def definitions(self) -> dict[str, SegmentDefinition]:
        if self._definitions is None:
            self._definitions = {d.id: d for d in await self.store.definitions()}
        return self._definitions


class SegmentContext(Protocol):
    @property
    def principal(self) -> Principal: ...

    @property
    def segments(self) -> SegmentAccess | None: ...

    @property
    def loaders(self) -> ProfileLoaders: ...

    @property
    def default_region(self) -> str | None: ...


SegmentInfo = Info[SegmentContext, None]
LazyCustomer = Annotated["Customer", strawberry.lazy("services.profile.api.graph")]


async def customer_segments(
    access: SegmentAccess | None, state: CustomerState
) -> list[SegmentMembership]:
    """The segments a customer is in now (as stored on the customer without a store)."""
    if access is None:
        return list(state.segments)
    records = await access.memberships.load(state.id)
    definitions = await access.definitions()
    return [
        SegmentMembership(r.segment_id, definitions[r.segment_id].name, r.changed_at)
        for r in sorted(records.values(), key=lambda r: r.segment_id)
        if r.member and r.changed_at is not None and r.segment_id in definitions
    ]


@strawberry.type(name="ProfilePageInfo")
class PageInfo:
    """Where a page of a profile list ends. Not named ``PageInfo``: journey's is, and a
    type both subgraphs resolve would have to be ``@shareable`` in both."""

    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SegmentJob:
    """The background re-evaluation of every customer after a definition changed."""

    id: strawberry.ID
    version: int
    status: str
    processed: int
    total: int
    started_at: datetime | None
    finished_at: datetime | None

    @strawberry.field
    def progress(self) -> float:
        """Share of the customers done, 0-1 (1 once done)."""
        if self.status == "done":
            return 1.0
        return min(1.0, self.processed / self.total) if self.total else 0.0

    @classmethod
    def of(cls, job: JobState) -> SegmentJob:
        return cls(
            id=strawberry.ID(job.id),
            version=job.version,
            status=job.status,
            processed=job.processed,
            total=job.total,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


@strawberry.type
class SegmentMemberEdge:
    cursor: str
    customer_id: strawberry.ID
    entered_at: datetime | None

    @strawberry.field
    async def customer(self, info: SegmentInfo) -> LazyCustomer | None:
        from services.profile.api.graph import Customer

        state = await info.context.loaders.customer.load(str(self.customer_id))
        return Customer.of(state) if state is not None else None


@strawberry.type
class SegmentMemberConnection:
    edges: list[SegmentMemberEdge]
    page_info: PageInfo


@strawberry.type
class Segment:
    id: strawberry.ID
    name: str
    description: str
    version: int
    definition: JSON
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, definition: SegmentDefinition) -> Segment:
        return cls(
            id=strawberry.ID(definition.id),
            name=definition.name,
            description=definition.description,
            version=definition.version,
            definition=JSON(dict(definition.condition_json)),
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )

    @strawberry.field
    async def size(self, info: SegmentInfo) -> int:
        """How many customers are members now."""
        return await access_of(info).store.size(str(self.id))

    @strawberry.field
    async def job(self, info: SegmentInfo) -> SegmentJob | None:
        """The latest re-evaluation of everyone against this segment."""
        job = await access_of(info).store.latest_job(str(self.id))
        return SegmentJob.of(job) if job is not None else None

    @strawberry.field
    async def members(
        self, info: SegmentInfo, first: int = 20, after: str | None = None
    ) -> SegmentMemberConnection:
        """Current members by customer id; ``after`` is a previous page's ``endCursor``."""
        require_scope(info.context.principal, READ)
        size = page_size(first)
        start = decode_cursor(after) if after else None
        page = await access_of(info).store.members(str(self.id), size, start)
        edges = [
            SegmentMemberEdge(
                cursor=encode_cursor(m.customer_id),
                customer_id=strawberry.ID(m.customer_id),
                entered_at=m.changed_at,
            )
            for m in page.members
        ]
        return SegmentMemberConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )


async def segments(info: SegmentInfo) -> list[Segment]:
    """Every segment (deleted ones are gone)."""
    require_scope(info.context.principal, READ)
    return [Segment.of(d) for d in (await access_of(info).definitions()).values()]


def segment_condition_schema(info: SegmentInfo) -> JSON:
    """The condition language of ``createSegment`` as a JSON Schema, with examples."""
    require_scope(info.context.principal, READ)
    return JSON(CONDITION_SCHEMA)


async def segment(info: SegmentInfo, id: strawberry.ID) -> Segment | None:
    require_scope(info.context.principal, READ)
    definition = await access_of(info).store.definition(str(id))
    return Segment.of(definition) if definition is not None and not definition.deleted else None


@strawberry.type
class SegmentMutation:
    @strawberry.mutation
    async def create_segment(
        self, info: SegmentInfo, name: str, condition: JSON, description: str = ""
    ) -> Segment:
        """Define a segment (scope admin); everyone is evaluated against it in the background.

        ``condition`` is the JSON condition language (services/profile/domain/segments.py).
        """
        require_scope(info.context.principal, ADMIN)
        access = access_of(info)
        with _user_errors():
            definition, _ = await segment_admin.create_segment(
                access.store,
                name=name,
                condition=_object(condition),
                description=description,
                now=access.clock(),
            )
        return Segment.of(definition)

    @strawberry.mutation
    async def update_segment(
        self,
        info: SegmentInfo,
        id: strawberry.ID,
        condition: JSON | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Segment:
        """Store a new version (scope admin); everyone is re-evaluated in the background."""
        require_scope(info.context.principal, ADMIN)
        access = access_of(info)
        with _user_errors():
            definition, _ = await segment_admin.update_segment(
                access.store,
                str(id),
                now=access.clock(),
                name=name,
                condition=None if condition is None else _object(condition),
                description=description,
            )
        return Segment.of(definition)

    @strawberry.mutation
    async def delete_segment(self, info: SegmentInfo, id: strawberry.ID) -> bool:
        """Delete a segment (scope admin); its members exit in the background."""
        require_scope(info.context.principal, ADMIN)
        access = access_of(info)
        with _user_errors():
            await segment_admin.delete_segment(access.store, str(id), now=access.clock())
        return True


def _object(condition: Any) -> dict[str, Any]:
    if not isinstance(condition, dict):
        raise GraphQLError(
            '`condition` must be a JSON object such as {"trait": "plan", "eq": "pro"}',
            extensions={"code": "BAD_USER_INPUT"},
        )
    return condition


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Profile errors of a mutation as BAD_USER_INPUT (with the bad paths) or CONFLICT."""
    try:
        yield
    except SegmentConditionError as exc:
        raise GraphQLError(
            str(exc), extensions={"code": "BAD_USER_INPUT", "problems": exc.problems}
        ) from None
    except segment_admin.SegmentChangedError as exc:
        raise GraphQLError(str(exc), extensions={"code": "CONFLICT"}) from None
    except ProfileError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_USER_INPUT"}) from None


def access_of(info: SegmentInfo) -> SegmentAccess:
    access = info.context.segments
    if access is None:
        raise GraphQLError(
            "segments are not configured in this process; serve the profile through "
            "services.profile.bootstrap",
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    return access


def page_size(first: int) -> int:
    if first < 0:
        raise GraphQLError(
            f"`first` must be zero or more, got {first}; ask for 0 to {MAX_PAGE}",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return min(first, MAX_PAGE)


def encode_cursor(customer_id: str) -> str:
    return base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        if not decoded:
            raise ValueError("empty cursor")
        return decoded
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GraphQLError(
            f"cursor {cursor!r} is not one this list issued; pass `endCursor` from a "
            "previous page, or omit `after` to start from the beginning",
            extensions={"code": "BAD_USER_INPUT"},
        ) from None
