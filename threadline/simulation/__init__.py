"""Simulated customers for demos, tests and benchmarks (``threadline simulate``)."""

from threadline.simulation.journeys import base_time_for_seed, generate, simulate
from threadline.simulation.story import Payload
from threadline.simulation.truth import Simulation

__all__ = ["Payload", "Simulation", "base_time_for_seed", "generate", "simulate"]
