"""Simulated customers for demos, tests and benchmarks (``threadline simulate``)."""

from threadline.simulation.journeys import base_time_for_seed, generate
from threadline.simulation.story import Payload

__all__ = ["Payload", "base_time_for_seed", "generate"]
