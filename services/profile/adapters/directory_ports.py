"""The customer directory port: the searchable, paginated customer list.

:class:`MongoCustomerDirectory` (``adapters/mongo_directory.py``) and
:class:`InMemoryCustomerDirectory` (``adapters/in_memory_directory.py``) implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.profile.domain.identity import Identity


@dataclass(frozen=True, slots=True)
class CustomerSearch:
    """Customers owning any of ``identities``, or with a trait among ``traits`` whose text
    value starts with ``prefix`` (case-insensitive). Empty: every customer."""

    identities: tuple[Identity, ...] = ()
    prefix: str | None = None
    traits: tuple[str, ...] = ()

    @property
    def everyone(self) -> bool:
        return not self.identities and not self.prefix


@dataclass(frozen=True, slots=True)
class CustomerIdPage:
    customer_ids: list[str]
    has_next: bool


class CustomerDirectory(Protocol):
    async def search(self, search: CustomerSearch, first: int, after: str | None) -> CustomerIdPage:
        """Matching customer ids in id order, the first ``first`` after the id ``after``."""


def page_of(ids: Sequence[str], first: int) -> CustomerIdPage:
    return CustomerIdPage(list(ids[:first]), has_next=len(ids) > first)
