"""Scoring rules: per-customer metrics from resolved events. Pure and synchronous."""

from shared.errors import ThreadlineError


class ScoringError(ThreadlineError):
    """Root of the scoring service's errors."""
