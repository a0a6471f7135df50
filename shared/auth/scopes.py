"""Scope names, how a token's claims grant them, and the check that says how to get one."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shared.auth.errors import MissingScopeError

CUSTOMERS_READ = "customers:read"
"""Read customers, journeys, scores and analytics through the graph."""
PII_READ = "pii:read"
"""See personal traits (email, phone, name, address…) unmasked."""
EVENTS_WRITE = "events:write"
"""Send events to the collection API (``/v1/*``) with a bearer token instead of a write key."""
CONSENT_WRITE = "consent:write"
"""Record consent statements about customers (the ``setConsent`` mutation)."""
ADMIN = "admin"
"""Everything, including webhooks, quarantine replay and the gateway's admin routes."""

SCOPES = (CUSTOMERS_READ, PII_READ, EVENTS_WRITE, ADMIN, CONSENT_WRITE)


def parse_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a token grants: its ``scope`` claim, else its ``scp`` claim.

    Each may be a space-separated string (RFC 8693, Azure AD's ``scp``) or a
    list of strings (Okta's ``scp``).
    """
    raw = claims["scope"] if "scope" in claims else claims.get("scp")
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list | tuple):
        return frozenset(str(item) for item in raw)
    return frozenset()


def require_scope(granted: Collection[str], scope: str) -> None:
    """Raise :class:`MissingScopeError` unless ``granted`` holds ``scope`` (or ``admin``)."""
    if scope in granted or ADMIN in granted:
        return
    raise MissingScopeError(
        f"this operation needs the scope {scope!r}; ask for a token that grants it "
        f"(e.g. `threadline token --scope {scope!r}`)",
        scope=scope,
    )
