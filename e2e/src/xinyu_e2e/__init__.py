"""Helpers for tests of the running platform: real Keycloak tokens, the gateway's address."""

from __future__ import annotations

import os
from functools import cache

import httpx

KEYCLOAK_ISSUER = os.environ.get("XINYU_E2E_ISSUER", "http://127.0.0.1:8180/realms/xinyu")
GATEWAY_URL = os.environ.get("XINYU_E2E_GATEWAY", "http://127.0.0.1:8080")
# The local-only client with direct access grants (infra/keycloak); never in a cluster realm.
CLI_CLIENT_ID = "xinyu-cli"
CLI_CLIENT_SECRET = os.environ.get("XINYU_E2E_CLI_SECRET", "dev-kc-cli")
DEMO_PASSWORD = os.environ.get("XINYU_DEMO_PASSWORD", "Xinyu-Demo-2026!")
# identity's database, read by tests that must find what an import created (the platform has no
# endpoint that lists a school's students); the local stack's (infra/local/services.env).
IDENTITY_DATABASE = os.environ.get(
    "XINYU_E2E_IDENTITY_DB",
    "postgresql://identity:dev-db-identity@127.0.0.1:5433/identity",
)


def token_endpoint() -> str:
    return f"{KEYCLOAK_ISSUER}/protocol/openid-connect/token"


def password_token(username: str, password: str = DEMO_PASSWORD) -> str:
    """An access token for a demo user, issued by the running Keycloak."""
    response = httpx.post(
        token_endpoint(),
        data={
            "grant_type": "password",
            "client_id": CLI_CLIENT_ID,
            "client_secret": CLI_CLIENT_SECRET,
            "username": username,
            "password": password,
            "scope": "openid",
        },
        timeout=10.0,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@cache
def cached_token(username: str) -> str:
    """One token per demo user per test session (tokens live five minutes)."""
    return password_token(username)


def client_token(client_id: str, client_secret: str) -> str:
    """A service account's token (client credentials)."""
    response = httpx.post(
        token_endpoint(),
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=10.0,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def auth(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cached_token(username)}"}
