"""``threadline token`` prints a JWT our verifier accepts, with exactly the scopes asked for."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from shared.auth import TokenVerifier
from shared.errors import AuthError
from shared.settings import Settings
from threadline.cli import main
from threadline.localstate import JWT_SECRET_FILE, WRITE_KEY_FILE, ensure_credentials

SECRET = "unit-test-secret-" + "s" * 32


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("THREADLINE_JWT_SECRET", "THREADLINE_WRITE_KEYS", "THREADLINE_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADLINE_DATA_DIR", str(tmp_path))
    return tmp_path


def _token(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["token", *argv]) == 0
    return capsys.readouterr().out.strip()


async def test_token_carries_the_requested_scopes_and_subject(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THREADLINE_JWT_SECRET", SECRET)
    token = _token(capsys, "--scope", "customers:read pii:read", "--subject", "ana")
    principal = await TokenVerifier(secret=SECRET, issuer="threadline").verify(token)
    assert principal.subject == "ana"
    assert principal.scopes == frozenset({"customers:read", "pii:read"})
    assert principal.has("pii:read")
    assert not principal.has("admin")


async def test_token_is_rejected_by_a_verifier_with_another_secret(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THREADLINE_JWT_SECRET", SECRET)
    token = _token(capsys, "--scope", "customers:read")
    with pytest.raises(AuthError):
        await TokenVerifier(secret="another-" + "x" * 40).verify(token)


async def test_token_uses_the_secret_threadline_up_wrote_when_the_env_has_none(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = ensure_credentials(Settings(), clean_env)
    token = _token(capsys, "--scope", "customers:read")
    principal = await TokenVerifier(secret=credentials.jwt_secret).verify(token)
    assert principal.scopes == frozenset({"customers:read"})


def test_token_without_any_secret_fails_and_says_how_to_fix_it(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--scope", "customers:read"]) == 1
    err = capsys.readouterr().err
    assert "THREADLINE_JWT_SECRET" in err
    assert "threadline up" in err


def test_ttl_sets_the_token_lifetime(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THREADLINE_JWT_SECRET", SECRET)
    token = _token(capsys, "--ttl", "90")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="threadline")
    assert claims["exp"] - claims["iat"] == 90
    assert claims["sub"] == "local-user"


def test_local_credentials_persist_privately_and_the_env_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ensure_credentials(Settings(), clean_env)
    again = ensure_credentials(Settings(), clean_env)
    assert again == first
    assert len(first.jwt_secret) >= 32
    assert first.write_key.startswith("wk_")
    for name in (JWT_SECRET_FILE, WRITE_KEY_FILE):
        assert stat.S_IMODE((clean_env / name).stat().st_mode) == 0o600
    monkeypatch.setenv("THREADLINE_JWT_SECRET", SECRET)
    monkeypatch.setenv("THREADLINE_WRITE_KEYS", "key-a, key-b")
    configured = ensure_credentials(Settings(), clean_env)
    assert configured.jwt_secret == SECRET
    assert configured.write_key == "key-a"


async def test_an_unknown_scope_is_warned_about_naming_the_real_ones(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THREADLINE_JWT_SECRET", SECRET)
    assert main(["token", "--scope", "customer:read events:write"]) == 0
    printed = capsys.readouterr()

    assert "customer:read" in printed.err
    assert "customers:read pii:read events:write admin" in printed.err
    principal = await TokenVerifier(secret=SECRET).verify(printed.out.strip())
    assert principal.scopes == frozenset({"customer:read", "events:write"})
