"""What ``threadline up`` keeps in its data directory: the local JWT secret and write key.

The environment always wins (``THREADLINE_JWT_SECRET``, ``THREADLINE_WRITE_KEYS``);
the files exist so a local deployment keeps the same credentials between runs and
so ``threadline token`` and ``threadline simulate`` work next to it unconfigured.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.auth import issue_token
from shared.errors import ConfigurationError
from shared.settings import Settings
from threadline.private import write_private

JWT_SECRET_FILE = "jwt-secret"
WRITE_KEY_FILE = "write-key"


@dataclass(frozen=True, slots=True)
class LocalCredentials:
    jwt_secret: str
    write_key: str


def _read(path: Path) -> str | None:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    return value or None


def ensure_credentials(settings: Settings, data_dir: Path) -> LocalCredentials:
    """The configured credentials, else the persisted local ones, created on first use."""
    secret = settings.jwt_secret or _read(data_dir / JWT_SECRET_FILE)
    if secret is None:
        secret = secrets.token_urlsafe(48)
        write_private(data_dir / JWT_SECRET_FILE, secret + "\n")
    if settings.write_keys:
        write_key = settings.write_keys[0]
    else:
        write_key = _read(data_dir / WRITE_KEY_FILE) or ""
        if not write_key:
            write_key = "wk_" + secrets.token_hex(16)
            write_private(data_dir / WRITE_KEY_FILE, write_key + "\n")
    return LocalCredentials(jwt_secret=secret, write_key=write_key)


def jwt_secret(settings: Settings) -> str:
    secret = settings.jwt_secret or _read(settings.data_dir / JWT_SECRET_FILE)
    if secret is None:
        raise ConfigurationError(
            "no JWT secret: set THREADLINE_JWT_SECRET, or run `threadline up` once so it "
            f"writes a local one to {settings.data_dir / JWT_SECRET_FILE}"
        )
    return secret


def write_key(settings: Settings) -> str:
    if settings.write_keys:
        return settings.write_keys[0]
    key = _read(settings.data_dir / WRITE_KEY_FILE)
    if key is None:
        raise ConfigurationError(
            "no write key: pass --write-key, set THREADLINE_WRITE_KEYS, or run "
            f"`threadline up` once so it writes a local one to {settings.data_dir / WRITE_KEY_FILE}"
        )
    return key


def print_token(scope: str, *, subject: str, ttl: int) -> int:
    settings = Settings()
    token = issue_token(
        jwt_secret(settings),
        scope.replace(",", " ").split(),
        subject=subject,
        issuer=settings.jwt_issuer,
        ttl_seconds=ttl,
    )
    print(token)  # noqa: T201 - the token is the command's output
    return 0
