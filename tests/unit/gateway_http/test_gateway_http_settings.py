"""GatewaySettings from the environment, and Accept negotiation."""

from __future__ import annotations

import pytest

from gateway.http.negotiation import Media, is_json_content_type, negotiate
from gateway.settings import GatewaySettings


def test_settings_read_the_project_wide_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_JWT_SECRET", "shared-secret")
    monkeypatch.setenv("THREADLINE_JWKS_URL", "https://idp.example/jwks")
    monkeypatch.setenv("THREADLINE_ENVIRONMENT", "production")
    monkeypatch.setenv("THREADLINE_GATEWAY_MAX_DEPTH", "7")
    monkeypatch.setenv("THREADLINE_GATEWAY_CORS_ORIGINS", "https://a.example, https://b.example")
    loaded = GatewaySettings()
    assert loaded.jwt_secret == "shared-secret"
    assert loaded.jwks_url == "https://idp.example/jwks"
    assert loaded.max_depth == 7
    assert loaded.cors_origins == ("https://a.example", "https://b.example")
    assert loaded.production
    assert not loaded.introspection_enabled
    assert not loaded.graphiql_enabled


def test_gateway_prefixed_variables_win_over_the_global_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADLINE_JWT_SECRET", "global")
    monkeypatch.setenv("THREADLINE_GATEWAY_JWT_SECRET", "gateway-only")
    assert GatewaySettings().jwt_secret == "gateway-only"


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "leaked")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("THREADLINE_JWT_SECRET", raising=False)
    monkeypatch.delenv("THREADLINE_ENVIRONMENT", raising=False)
    loaded = GatewaySettings()
    assert loaded.jwt_secret is None
    assert loaded.environment == "development"


def test_settings_are_frozen() -> None:
    loaded = GatewaySettings(jwt_secret="x")
    with pytest.raises(ValueError, match="frozen"):
        loaded.max_depth = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("accept", "html", "expected"),
    [
        ("application/json;q=0", False, None),
        ("application/json;q=0, */*", False, Media.JSON),
        ("application/*", False, Media.JSON),
        ("text/event-stream", False, Media.EVENT_STREAM),
        ("text/html,*/*;q=0.8", True, Media.HTML),
        ("text/html,*/*;q=0.8", False, Media.JSON),
        ("text/html", False, None),
        ("image/png, application/graphql-response+json;q=0.1", False, Media.GRAPHQL_RESPONSE),
    ],
)
def test_accept_negotiation(accept: str, html: bool, expected: Media | None) -> None:
    assert negotiate(accept, html=html) is expected


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/json; charset=latin-1", False),
        ("text/plain", False),
        (None, False),
    ],
)
def test_request_bodies_must_be_utf8_json(content_type: str | None, accepted: bool) -> None:
    assert is_json_content_type(content_type) is accepted
