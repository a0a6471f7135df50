"""Credentials, in one implementation for the gateway and every service.

Bearer JWTs carry scopes (HS256 with ``THREADLINE_JWT_SECRET``, RS256/ES256 via
``THREADLINE_JWKS_URL``); write keys authenticate the collection API. The
gateway verifies a token and forwards it; every service verifies it again with
the same :class:`TokenVerifier`, so a token gets the same answer everywhere and
a subgraph reached directly is no softer than the gateway.

| module          | job                                                                 |
|-----------------|---------------------------------------------------------------------|
| ``tokens``      | :class:`TokenVerifier` (signature, ``exp``/``nbf``/``iss``/``aud``,  |
|                 | required ``sub``) and :func:`issue_token` for local use             |
| ``jwks``        | :class:`JwksCache`: one key set per URL, refetched on an unknown    |
|                 | ``kid`` or when stale, at most once per interval                    |
| ``cache``       | :class:`VerifiedTokens`: the verifier's optional bounded cache of   |
|                 | verified tokens, honouring ``exp``                                  |
| ``principal``   | :class:`Principal`: the verified caller, its scopes and expiry      |
| ``scopes``      | scope names, :func:`parse_scopes` (``scope`` or ``scp``),           |
|                 | :func:`require_scope` with its how-to-fix message                   |
| ``headers``     | bearer and HTTP Basic credentials out of ``Authorization``          |
| ``write_keys``  | :class:`WriteKeys`: the collection API's keys, constant-time        |
| ``errors``      | :class:`TokenError` (401), :class:`MissingScopeError` (403),        |
|                 | :class:`KeySetUnavailableError` (503); all are ``AuthError`` s      |
"""

from shared.auth.cache import VerifiedTokens
from shared.auth.errors import KeySetUnavailableError, MissingScopeError, TokenError
from shared.auth.headers import basic_user, bearer_token, require_bearer
from shared.auth.jwks import ASYMMETRIC_ALGORITHMS, JwksCache
from shared.auth.principal import Principal
from shared.auth.scopes import (
    ADMIN,
    CONSENT_WRITE,
    CUSTOMERS_READ,
    EVENTS_WRITE,
    PII_READ,
    SCOPES,
    parse_scopes,
    require_scope,
)
from shared.auth.tokens import TokenVerifier, issue_token
from shared.auth.write_keys import WriteKeys

__all__ = [
    "ADMIN",
    "ASYMMETRIC_ALGORITHMS",
    "CONSENT_WRITE",
    "CUSTOMERS_READ",
    "EVENTS_WRITE",
    "PII_READ",
    "SCOPES",
    "JwksCache",
    "KeySetUnavailableError",
    "MissingScopeError",
    "Principal",
    "TokenError",
    "TokenVerifier",
    "VerifiedTokens",
    "WriteKeys",
    "basic_user",
    "bearer_token",
    "issue_token",
    "parse_scopes",
    "require_bearer",
    "require_scope",
]
