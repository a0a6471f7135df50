"""Each service's own /graphql applies the configured document limits (THREADLINE_GRAPHQL_*)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.journey import bootstrap as journey
from services.profile import bootstrap as profile
from services.scoring import bootstrap as scoring
from shared.auth import issue_token
from tests.integration.services.services_support import JWT_SECRET, serving, slice_settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("service", "port_setting"),
    [(profile, "profile_port"), (journey, "journey_port"), (scoring, "scoring_port")],
)
async def test_a_service_refuses_operations_past_its_configured_limits(
    infra: Any, service: Any, port_setting: str
) -> None:
    settings = slice_settings(infra, graphql_max_aliases=2)
    headers = {"authorization": f"Bearer {issue_token(JWT_SECRET, ['customers:read'])}"}
    async with (
        serving(service.create_app(settings), getattr(settings, port_setting)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        allowed = await http.post(
            "/graphql", json={"query": "{ a: __typename b: __typename }"}, headers=headers
        )
        refused = await http.post(
            "/graphql",
            json={"query": "{ a: __typename b: __typename c: __typename }"},
            headers=headers,
        )

    assert allowed.json() == {"data": {"a": "Query", "b": "Query"}}
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"] == {
        "code": "ALIAS_LIMIT_EXCEEDED",
        "limit": 2,
        "measured": 3,
    }
