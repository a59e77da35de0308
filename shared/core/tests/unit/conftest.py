"""Local signing keys and a JWKS endpoint served by httpx's MockTransport: unit tests of the
verifier need no Keycloak (the integration tests use the real one)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "http://127.0.0.1:8180/realms/xinyu"
AUDIENCE = "xinyu-api"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": [AUDIENCE, "account"],
            "sub": "0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21",
            "iat": now,
            "exp": now + 300,
            "azp": "xinyu-cli",
            "preferred_username": "psych.teacher",
            "realm_access": {"roles": ["psych_teacher"]},
            "org_unit": "3607020001",
        }
        claims.update(overrides)
        claims = {key: value for key, value in claims.items() if value is not None}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


@dataclass
class FakeKeycloak:
    """Serves a JWKS document; can be taken down like a stopped Keycloak."""

    keys: list[SigningKey]
    up: bool = True
    fetches: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"keys": [key.jwk() for key in self.keys]})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey(kid="key-1")


@pytest.fixture
def keycloak(signing_key: SigningKey) -> FakeKeycloak:
    return FakeKeycloak(keys=[signing_key])


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Callable[[], float]:
    return ManualClock()
