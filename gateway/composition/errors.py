"""The one exception composition raises, and the problems and hints it reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CompositionProblem:
    """One reason the subgraphs do not compose.

    ``code`` is Apollo's error code where Apollo has one (``INVALID_FIELD_SHARING``,
    ``FIELD_TYPE_MISMATCH``…), so messages can be looked up in Apollo's docs.
    """

    code: str
    message: str
    subgraphs: tuple[str, ...] = ()
    coordinate: str | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass(frozen=True, slots=True)
class CompositionHint:
    """Something that composes but is probably not what the subgraph authors meant."""

    code: str
    message: str
    coordinate: str | None = None


class CompositionError(Exception):
    """The subgraphs (or a supergraph file) are invalid; ``problems`` lists every reason."""

    def __init__(self, problems: Iterable[CompositionProblem]) -> None:
        self.problems: tuple[CompositionProblem, ...] = tuple(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"composition failed with {count} problem(s):\n{lines}")

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]


def human_list(
    names: Sequence[str],
    singular: str = "subgraph",
    plural: str = "subgraphs",
    *,
    quote: bool = True,
) -> str:
    """Render ``["a", "b", "c"]`` as ``subgraphs "a", "b" and "c"`` like Apollo does."""
    quoted = [f'"{n}"' for n in names] if quote else list(names)
    if len(quoted) == 1:
        return f"{singular} {quoted[0]}"
    return f"{plural} {', '.join(quoted[:-1])} and {quoted[-1]}"
