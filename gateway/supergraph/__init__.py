"""The supergraph: API schema plus the join-spec metadata the planner works from."""

from gateway.supergraph.model import (
    FieldMeta,
    FieldSource,
    KeyDef,
    ProgressiveOverride,
    SubgraphInfo,
    SupergraphError,
    TypeMeta,
    parse_selection,
)
from gateway.supergraph.reader import Supergraph

__all__ = [
    "FieldMeta",
    "FieldSource",
    "KeyDef",
    "ProgressiveOverride",
    "SubgraphInfo",
    "Supergraph",
    "SupergraphError",
    "TypeMeta",
    "parse_selection",
]
