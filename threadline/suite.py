"""The parts of a Threadline suite: three services (each an API and workers) and a gateway.

Every command that starts, lists or routes to the services takes their names from
here; it imports nothing, so the command line's parser stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

SERVICES = ("profile", "journey", "scoring")


def service_port(settings: Settings, service: str) -> int:
    """The port a service's API listens on (``THREADLINE_<SERVICE>_PORT``)."""
    return int(getattr(settings, f"{service}_port"))
