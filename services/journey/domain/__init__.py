"""Journey rules: touchpoints and their timeline. Pure and synchronous."""

from shared.errors import ThreadlineError


class JourneyError(ThreadlineError):
    """Root of the journey service's errors."""


class InvalidCursorError(JourneyError):
    """A pagination cursor that this service did not issue."""
