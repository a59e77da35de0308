"""Token verification against the running Keycloak: its real tokens, its real JWKS, and what
happens while it is stopped (infra/local/stack ctl stop keycloak)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from xinyu_core.auth import JwksCache, TokenVerifier
from xinyu_core.errors import Unauthenticated
from xinyu_core.settings import KeycloakSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
STACK = ROOT / "infra" / "local" / "stack"
ISSUER = "http://127.0.0.1:8180/realms/xinyu"
PASSWORD = "Xinyu-Demo-2026!"


def issue(username: str, client_id: str = "xinyu-cli", secret: str = "dev-kc-cli") -> str:
    response = httpx.post(
        f"{ISSUER}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": secret,
            "username": username,
            "password": PASSWORD,
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def verifier(
    http: httpx.AsyncClient,
    *,
    audience: str = "xinyu-api",
    issuer: str = ISSUER,
    leeway: int = 0,
    max_age: float = 600,
    cooldown: float = 0,
) -> TokenVerifier:
    settings = KeycloakSettings(issuer=issuer, audience=audience, leeway_seconds=leeway)
    jwks = JwksCache(
        KeycloakSettings().resolved_jwks_url,
        http,
        refetch_cooldown_seconds=cooldown,
        max_age_seconds=max_age,
    )
    return TokenVerifier(settings, jwks)


async def test_a_token_from_the_running_keycloak_is_accepted(http: httpx.AsyncClient) -> None:
    principal = await verifier(http).verify(issue("psych.teacher"))
    assert "psych_teacher" in principal.roles
    assert principal.org_unit == "3607020001"
    assert principal.username == "psych.teacher"


async def test_a_tampered_token_is_refused(http: httpx.AsyncClient) -> None:
    header, payload, signature = issue("head.teacher").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"]["roles"].append("city_admin")
    claims["org_unit"] = "360700"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated, match="InvalidSignature"):
        await verifier(http).verify(f"{header}.{forged}.{signature}")


async def test_an_expired_token_is_refused(http: httpx.AsyncClient) -> None:
    token = issue("psych.teacher", "xinyu-short-lived", "dev-kc-short-lived")
    check = verifier(http)
    assert (await check.verify(token)).username == "psych.teacher"
    await asyncio.sleep(3.5)  # the client's tokens live two seconds
    with pytest.raises(Unauthenticated, match="expired"):
        await check.verify(token)


async def test_wrong_audience_and_wrong_issuer_are_refused(http: httpx.AsyncClient) -> None:
    token = issue("psych.teacher")
    with pytest.raises(Unauthenticated, match="InvalidAudience"):
        await verifier(http, audience="another-api").verify(token)
    with pytest.raises(Unauthenticated, match="InvalidIssuer"):
        await verifier(http, issuer="http://127.0.0.1:8180/realms/other").verify(token)


def stack(*args: str) -> None:
    subprocess.run([str(STACK), *args], check=True, capture_output=True, timeout=120)


def wait_for_keycloak(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{ISSUER}/.well-known/openid-configuration", timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("Keycloak did not come back")


@pytest.fixture
def keycloak_stopped() -> Iterator[None]:
    stack("ctl", "stop", "keycloak")
    try:
        yield
    finally:
        stack("ctl", "start", "keycloak")
        wait_for_keycloak()


@pytest.fixture
def token_before_stop() -> str:
    return issue("school.admin")


async def test_while_keycloak_is_stopped_cached_keys_verify_and_unknown_keys_do_not(
    http: httpx.AsyncClient, token_before_stop: str, request: pytest.FixtureRequest
) -> None:
    # Keys go stale at once, so every verification below tries (and fails) to refresh.
    check = verifier(http, max_age=0, cooldown=0)
    assert (await check.verify(token_before_stop)).username == "school.admin"

    request.getfixturevalue("keycloak_stopped")
    with pytest.raises(httpx.ConnectError):
        await http.get(f"{ISSUER}/protocol/openid-connect/certs")
    assert (await check.verify(token_before_stop)).username == "school.admin"

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        jwt.decode(token_before_stop, options={"verify_signature": False}),
        stranger,
        algorithm="RS256",
        headers={"kid": "not-a-keycloak-key"},
    )
    with pytest.raises(Unauthenticated, match="unknown key"):
        await check.verify(forged)
