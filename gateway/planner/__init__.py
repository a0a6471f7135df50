"""Query planning: client operation → subgraph fetches with dependencies."""

from gateway.planner.errors import PlanningError
from gateway.planner.plan import Fetch, PlanStep, QueryPlan, RepresentationSpec
from gateway.planner.planner import QueryPlanner

__all__ = ["Fetch", "PlanStep", "PlanningError", "QueryPlan", "QueryPlanner", "RepresentationSpec"]
