"""Plan execution: subgraph fetches, the merged response tree, response shaping."""

from gateway.executor.executor import ExecutionState, PlanExecutor
from gateway.executor.stats import EngineStats

__all__ = ["EngineStats", "ExecutionState", "PlanExecutor"]
