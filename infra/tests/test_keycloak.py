"""The realm `xinyu` is hardened as declared and issues the tokens the services expect."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("keycloak_up")]

BASE = "http://127.0.0.1:8180"
ISSUER = f"{BASE}/realms/xinyu"
TOKEN_URL = f"{ISSUER}/protocol/openid-connect/token"
DEMO_PASSWORD = "Xinyu-Demo-2026!"


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload))
    return decoded


@pytest.fixture(scope="module")
def admin() -> httpx.Client:
    token = httpx.post(
        f"{BASE}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": "dev-keycloak-admin",
        },
        timeout=30,
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.Client(base_url=f"{BASE}/admin/realms/xinyu", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def realm(admin: httpx.Client) -> dict[str, Any]:
    response = admin.get("")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def test_brute_force_protection_is_on(realm: dict[str, Any]) -> None:
    assert realm["bruteForceProtected"] is True
    assert realm["failureFactor"] <= 10


def test_password_policy(realm: dict[str, Any]) -> None:
    policy = realm["passwordPolicy"]
    for rule in ("length(12)", "digits", "upperCase", "lowerCase", "specialChars", "notUsername"):
        assert rule in policy


def test_events_and_admin_events_are_recorded(realm: dict[str, Any]) -> None:
    assert realm["eventsEnabled"] is True
    assert realm["eventsExpiration"] > 0
    assert realm["adminEventsEnabled"] is True
    assert realm["adminEventsDetailsEnabled"] is True


def test_access_tokens_live_five_minutes(realm: dict[str, Any]) -> None:
    assert realm["accessTokenLifespan"] == 300


def test_org_unit_is_declared_in_the_user_profile(admin: httpx.Client) -> None:
    profile = admin.get("/users/profile").json()
    org_unit = next(a for a in profile["attributes"] if a["name"] == "org_unit")
    assert "user" not in org_unit["permissions"]["edit"]


def test_group_tree_has_the_18_county_divisions(admin: httpx.Client) -> None:
    city = admin.get("/groups", params={"search": "ganzhou", "briefRepresentation": "false"})
    ganzhou = next(g for g in city.json() if g["name"] == "ganzhou")
    assert ganzhou["attributes"]["code"] == ["360700"]
    children = admin.get(
        f"/groups/{ganzhou['id']}/children", params={"max": 100, "briefRepresentation": "false"}
    ).json()
    codes = {c["attributes"]["code"][0] for c in children}
    assert len(codes) == 18
    assert {"360702", "360703", "360781", "360783"} <= codes


def test_psych_teacher_token_via_cli_client() -> None:
    response = httpx.post(
        TOKEN_URL,
        data={
            "grant_type": "password",
            "client_id": "xinyu-cli",
            "client_secret": "dev-kc-cli",
            "username": "psych.teacher",
            "password": DEMO_PASSWORD,
            "scope": "openid",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token = claims(response.json()["access_token"])
    aud = token["aud"] if isinstance(token["aud"], list) else [token["aud"]]
    assert "xinyu-api" in aud
    assert token["org_unit"] == "3607020001"
    assert "psych_teacher" in token["realm_access"]["roles"]
    assert token["iss"] == ISSUER
    assert token["exp"] - token["iat"] == 300


def test_service_client_credentials_carry_the_service_role() -> None:
    response = httpx.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "screening",
            "client_secret": "dev-kc-screening",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token = claims(response.json()["access_token"])
    assert "service" in token["realm_access"]["roles"]
    assert "xinyu-api" in token["aud"]


def test_wrong_client_secret_is_refused() -> None:
    response = httpx.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": "screening", "client_secret": "x"},
        timeout=30,
    )
    assert response.status_code == 401
