"""An identity provider for auth tests: HS256 secret, RSA and EC keys published as a JWKS."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_URL = "https://issuer.example/.well-known/jwks.json"
SECRET = "auth-test-secret-that-is-long-enough-for-hs256"
ISSUER = "threadline"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_GENERATED: dict[tuple[str, str], PrivateKey] = {}


def _private_key(kid: str, algorithm: str) -> PrivateKey:
    """One key per (kid, algorithm) for the whole run: RSA key generation is slow."""
    key = _GENERATED.get((kid, algorithm))
    if key is None:
        if algorithm == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _GENERATED[(kid, algorithm)] = key
    return key


class Issuer:
    """Signs tokens and serves its public keys at :data:`JWKS_URL` through a mock transport.

    ``publish`` controls which keys the JWKS lists, so a test can rotate keys or
    sign with a key the set never names.
    """

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.keys: dict[str, tuple[str, PrivateKey]] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.down = False

    def add_key(self, kid: str, algorithm: str = "RS256", *, publish: bool = True) -> None:
        self.keys[kid] = (algorithm, _private_key(kid, algorithm))
        if publish:
            self.published.append(kid)

    def retire(self, kid: str) -> None:
        self.published.remove(kid)

    def jwks(self) -> dict[str, Any]:
        """The published key set, as the provider serves it; counts as a fetch."""
        self.fetches += 1
        keys = []
        for kid in self.published:
            algorithm, key = self.keys[kid]
            if isinstance(key, ec.EllipticCurvePrivateKey):
                jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            else:
                jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": algorithm})
        return {"keys": keys}

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        if self.down:
            self.fetches += 1
            return httpx.Response(503)
        return httpx.Response(200, json=self.jwks())

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def token(self, kid: str | None = None, **overrides: Any) -> str:
        """A token signed with key ``kid`` (HS256 with the issuer's secret when None).

        Claims default to a valid ``customers:read`` token for subject ``user-1``;
        an override of ``None`` drops the claim.
        """
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "user-1",
            "scope": "customers:read",
            "iss": ISSUER,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        if kid is None:
            return jwt.encode(claims, self.secret, algorithm="HS256")
        algorithm, key = self.keys[kid]
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
