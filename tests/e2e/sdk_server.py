"""The profile service's ASGI app built from THREADLINE_* settings, for ``uvicorn --factory``."""

from __future__ import annotations

from starlette.applications import Starlette

from services.profile.bootstrap import create_app
from shared.settings import Settings


def app() -> Starlette:
    return create_app(Settings())
