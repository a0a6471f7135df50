"""The one answer to "who is calling and what may they do", wherever a token was verified."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth.scopes import ADMIN, require_scope


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller: the token's ``sub``, its scopes, and when it stops being valid.

    ``admin`` implies every other scope.
    """

    subject: str
    scopes: frozenset[str]
    expires_at: float | None = None
    """The token's ``exp`` (seconds since the epoch); long-lived connections re-check it."""

    def has(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    def require(self, scope: str) -> None:
        """Raise :class:`~shared.auth.MissingScopeError` unless the caller holds ``scope``."""
        require_scope(self.scopes, scope)
