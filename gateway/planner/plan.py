"""The query plan: subgraph fetches with their dependencies, fixed at plan time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, OperationType, SelectionSetNode

from gateway.planner.collect import FieldCollector


@dataclass(frozen=True, slots=True)
class RepresentationSpec:
    """How to build the ``_entities`` representation of one runtime type.

    ``selections`` are the key (and ``@requires``) field sets, read from the
    response tree through the planner's internal aliases.
    """

    typename: str
    selections: tuple[SelectionSetNode, ...]


@dataclass(frozen=True, slots=True)
class Fetch:
    """One subgraph request. Entity fetches run once per plan, batched over all objects."""

    id: int
    graph: str
    operation: str
    operation_kind: str
    variable_names: tuple[str, ...]
    depends_on: tuple[int, ...] = ()
    path: tuple[str, ...] = ()
    entity: bool = False
    representations: Mapping[str, RepresentationSpec] = field(default_factory=dict)
    unalias: bool = False
    """Results carry ``OWN_TYPE_PREFIX`` aliases to strip before merging."""
    root_keys: tuple[str, ...] = ()
    """Response keys of the client root fields a root fetch resolves (error paths)."""
    runtime_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """@interfaceObject entity fetches: the keys to merge into objects of each runtime type."""

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subgraph": self.graph,
            "entity": self.entity,
            "path": list(self.path),
            "dependsOn": list(self.depends_on),
            "operation": self.operation,
        }


@dataclass(frozen=True, slots=True)
class PlanStep:
    """Fetches that may run concurrently as their dependencies allow (ids are topological)."""

    fetches: tuple[Fetch, ...]


@dataclass(slots=True)
class QueryPlan:
    """A plan for one document + operation + @skip/@include values.

    Mutations have one step per run of consecutive root fields on one subgraph,
    executed in order; queries and subscriptions have one step.
    """

    operation_type: OperationType
    root_type: str
    root_selection: SelectionSetNode
    collector: FieldCollector
    steps: tuple[PlanStep, ...]
    introspection: DocumentNode | None = None
    shape_cache: dict[Any, Any] = field(default_factory=dict)
    root_sets: tuple[SelectionSetNode, ...] = ()

    def __post_init__(self) -> None:
        self.root_sets = (self.root_selection,)

    @property
    def fetches(self) -> list[Fetch]:
        return [f for step in self.steps for f in step.fetches]

    def describe(self) -> list[list[dict[str, Any]]]:
        """A JSON-friendly view for tests, debugging and the HTTP layer's plan display."""
        return [[f.describe() for f in step.fetches] for step in self.steps]
