"""Apollo Federation v2 composition: subgraph SDLs in, join v0.3 supergraph SDL out.

``compose()`` follows Apollo's composition rules and output format; the planner
reads its output (or any rover-composed supergraph that passes
``validate_supergraph()``).
"""

from gateway.composition.compose import CompositionResult, compose, compose_with_hints
from gateway.composition.errors import CompositionError, CompositionHint, CompositionProblem
from gateway.composition.fetch import fetch_subgraph_sdl
from gateway.composition.subgraph import SubgraphDefinition
from gateway.composition.supergraph_check import validate_supergraph

__all__ = [
    "CompositionError",
    "CompositionHint",
    "CompositionProblem",
    "CompositionResult",
    "SubgraphDefinition",
    "compose",
    "compose_with_hints",
    "fetch_subgraph_sdl",
    "validate_supergraph",
]
