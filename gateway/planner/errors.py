"""The planner's root exception."""

from __future__ import annotations

from shared.errors import ThreadlineError


class PlanningError(ThreadlineError):
    """The operation cannot be planned over this supergraph (a composition gap or a bug)."""
