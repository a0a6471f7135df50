"""The customer directory over an :class:`InMemoryProfileStore`, for unit tests."""

from __future__ import annotations

from dataclasses import dataclass

from services.profile.adapters.directory_ports import CustomerIdPage, CustomerSearch, page_of
from services.profile.adapters.in_memory import InMemoryProfileStore


@dataclass
class InMemoryCustomerDirectory:
    profiles: InMemoryProfileStore

    async def search(self, search: CustomerSearch, first: int, after: str | None) -> CustomerIdPage:
        owners = {
            self.profiles.identity_docs[i].customer_id
            for i in search.identities
            if i in self.profiles.identity_docs
        }
        prefix = (search.prefix or "").casefold()
        ids = sorted(
            cid
            for cid, customer in self.profiles.customer_docs.items()
            if (after is None or cid > after)
            and (
                search.everyone
                or cid in owners
                or (
                    bool(prefix)
                    and any(
                        isinstance(v := getattr(customer.traits.get(t), "value", None), str)
                        and v.casefold().startswith(prefix)
                        for t in search.traits
                    )
                )
            )
        )
        return page_of(ids, first)
