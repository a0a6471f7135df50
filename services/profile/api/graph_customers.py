"""``Query.customers``: the searchable, cursor-paginated customer list (customers:read).

``search`` matches a customer by an identity value, canonicalized as ingestion does
(an email, a phone in any format, a user id…), or by the prefix of a searchable
trait (``THREADLINE_CUSTOMER_SEARCH_TRAITS``: name, first and last name by default),
case-insensitively. Customers come as ``Customer``, PII masked as everywhere.
"""

from __future__ import annotations

import strawberry

from services.profile.adapters.directory_ports import CustomerSearch
from services.profile.api.graph_segments import (
    READ,
    LazyCustomer,
    PageInfo,
    SegmentInfo,
    access_of,
    decode_cursor,
    encode_cursor,
    page_size,
)
from services.profile.domain import InvalidIdentityError
from services.profile.domain.identity import (
    ANONYMOUS_ID,
    EMAIL,
    PHONE,
    USER_ID,
    Identity,
    canonical_identity,
)
from shared.subgraph import require_scope

SEARCHED_TYPES = (EMAIL, PHONE, USER_ID, ANONYMOUS_ID)


@strawberry.type
class CustomerEdge:
    cursor: str
    node: LazyCustomer


@strawberry.type
class CustomerConnection:
    edges: list[CustomerEdge]
    page_info: PageInfo


async def customers(
    info: SegmentInfo, first: int = 20, after: str | None = None, search: str | None = None
) -> CustomerConnection:
    """Customers by id, or those matching ``search`` (an identity value or a name prefix);
    ``after`` is a previous page's ``endCursor``."""
    from services.profile.api.graph import Customer

    require_scope(info.context.principal, READ)
    access = access_of(info)
    if access.directory is None:
        raise RuntimeError("the customer directory is not wired; see services.profile.bootstrap")
    size = page_size(first)
    start = decode_cursor(after) if after else None
    query = search_of(search, access.search_traits, info.context.default_region)
    page = await access.directory.search(query, size, start)
    states = await info.context.loaders.customer.load_many(page.customer_ids)
    edges = [
        CustomerEdge(cursor=encode_cursor(state.id), node=Customer.of(state))
        for state in states
        if state is not None
    ]
    return CustomerConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            end_cursor=encode_cursor(page.customer_ids[-1]) if page.customer_ids else None,
        ),
    )


def search_of(
    text: str | None, traits: tuple[str, ...], region: str | None = None
) -> CustomerSearch:
    text = (text or "").strip()
    if not text:
        return CustomerSearch()
    identities: list[Identity] = []
    for kind in SEARCHED_TYPES:
        try:
            identities.append(canonical_identity(kind, text, region=region))
        except InvalidIdentityError:
            continue  # not a value of that type (a name is no phone number)
    return CustomerSearch(identities=tuple(dict.fromkeys(identities)), prefix=text, traits=traits)
