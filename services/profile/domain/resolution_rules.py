"""The configurable rules of identity resolution: blocked values, priority, limits, caps.

``ResolutionRules`` is read once from the settings (``THREADLINE_IDENTITY_*``,
see :meth:`ResolutionRules.of`) and handed to :func:`~services.profile.domain.resolution.resolve`.
The defaults follow the issue: placeholder values (``null``, ``undefined``,
``anonymous``, ``0``, ``-1``, ``test@example.com``) never match anything; user_id >
email > phone > external ids > anonymous_id; one user_id per customer ever, five
anonymous ids per week; at most 100 merges and 1,000 identifiers per customer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from services.profile.domain import ProfileError
from services.profile.domain.identity import ANONYMOUS_ID, EMAIL, PHONE, USER_ID, Identity

EXTERNAL = "*"
"""Stands for every external id type (``loyalty_id``, ``ios.idfa``…) in a priority list."""

DEFAULT_BLOCKED = ("null", "undefined", "anonymous", "0", "-1", "test@example.com")
DEFAULT_PRIORITY = (USER_ID, EMAIL, PHONE, EXTERNAL, ANONYMOUS_ID)
_WINDOW = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+)\s*([hdw]))?\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class ResolutionRulesError(ProfileError):
    """A resolution rule in the settings that cannot be read."""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` identifiers of a type per customer first seen within ``window``
    (``None``: ever)."""

    count: int
    window: timedelta | None = None

    @classmethod
    def parse(cls, kind: str, text: str) -> Limit:
        """``"1"`` (one ever) or ``"5/7d"`` (five per 7 days; units h, d, w)."""
        match = _WINDOW.match(text)
        if match is None or int(match.group(1)) < 1:
            raise ResolutionRulesError(
                f"identity limit for {kind} is {text!r}; write a count of 1 or more, "
                "optionally per window: `1` (one ever) or `5/7d` (five per 7 days; units h, d, w)"
            )
        count, amount, unit = match.groups()
        window = None if amount is None else int(amount) * _UNITS[unit]
        return cls(int(count), window)


def _default_limits() -> dict[str, Limit]:
    return {USER_ID: Limit(1), ANONYMOUS_ID: Limit(5, timedelta(weeks=1))}


@dataclass(frozen=True, slots=True)
class ResolutionRules:
    """Which values never match, which identity types outrank others, limits and caps."""

    blocked_values: frozenset[str] = frozenset(DEFAULT_BLOCKED)
    blocked_patterns: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    priority: tuple[str, ...] = DEFAULT_PRIORITY
    limits: Mapping[str, Limit] = field(default_factory=_default_limits)
    max_merges: int = 100
    max_identifiers: int = 1000

    @classmethod
    def of(
        cls,
        *,
        blocked_values: Sequence[str] = DEFAULT_BLOCKED,
        blocked_patterns: Mapping[str, Sequence[str]] | None = None,
        priority: Sequence[str] = DEFAULT_PRIORITY,
        limits: Mapping[str, str] | None = None,
        max_merges: int = 100,
        max_identifiers: int = 1000,
    ) -> ResolutionRules:
        """The rules from their settings' text forms; errors say which setting and how to fix it."""
        if EXTERNAL not in priority:
            priority = (*priority, EXTERNAL)
        return cls(
            blocked_values=frozenset(value.strip().lower() for value in blocked_values),
            blocked_patterns={
                kind: tuple(_pattern(kind, p) for p in patterns)
                for kind, patterns in (blocked_patterns or {}).items()
            },
            priority=tuple(priority),
            limits=_default_limits()
            if limits is None
            else {kind: Limit.parse(kind, text) for kind, text in limits.items()},
            max_merges=max_merges,
            max_identifiers=max_identifiers,
        )

    def rank(self, identity: Identity) -> int:
        """Lower is stronger evidence of who the customer is."""
        kind = identity.type if identity.type in self.priority else EXTERNAL
        return self.priority.index(kind)

    def order(self, identity: Identity) -> tuple[int, Identity]:
        return (self.rank(identity), identity)

    def blocked(self, identity: Identity) -> str | None:
        """Why ``identity`` may never match anything, or ``None``."""
        if identity.value.strip().lower() in self.blocked_values:
            return f"{identity.type} {identity.value!r} is a blocked placeholder value"
        for pattern in self.blocked_patterns.get(identity.type, ()):
            if pattern.search(identity.value):
                return f"{identity.type} matches the blocked pattern {pattern.pattern!r}"
        return None


def _pattern(kind: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ResolutionRulesError(
            f"blocked pattern {text!r} for {kind} is no regular expression ({exc}); fix "
            "THREADLINE_IDENTITY_BLOCKED_PATTERNS"
        ) from None


DEFAULT_RULES = ResolutionRules()
