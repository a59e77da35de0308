"""Every refusal is audited (R5): a denial at the gateway and a denial inside a service both
appear in the hash-chained audit log, readable by the auditor, and the chain stays intact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from xinyu_e2e import GATEWAY_URL, auth
from xinyu_e2e.seed import DemoWorld, ensure_demo_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[httpx.Client, DemoWorld]]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=10.0) as client:
        yield client, ensure_demo_world(client)


def subject_of(client: httpx.Client, user: str) -> str:
    return str(client.get("/v1/me", headers=auth(user)).json()["subject"])


def denials_of(client: httpx.Client, subject: str) -> list[dict[str, Any]]:
    reply = client.get(
        "/v1/audit/records",
        params={"actor_subject": subject, "outcome": "denied", "page_size": 50},
        headers=auth("auditor.demo"),
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["records"])


def wait_for_new_denial(client: httpx.Client, subject: str, before: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fresh = [r for r in denials_of(client, subject) if r["event_id"] not in before]
        if fresh:
            return fresh[0]
        time.sleep(0.3)
    raise AssertionError("the refusal never reached the audit log")


@pytest.mark.parametrize(
    ("user", "service", "reason"),
    [
        ("nankang.admin", "identity", "permission-denied"),  # refused by scope, in the service
        ("police.zhanggong", "gateway", "role-not-allowed"),  # refused by role, at the gateway
    ],
)
def test_a_refusal_is_in_the_audit_log(
    world: tuple[httpx.Client, DemoWorld], user: str, service: str, reason: str
) -> None:
    client, demo = world
    subject = subject_of(client, user)
    before = {r["event_id"] for r in denials_of(client, subject)}
    refused = client.get(f"/v1/students/{demo.student(0)}", headers=auth(user))
    assert refused.status_code == 403
    record = wait_for_new_denial(client, subject, before)
    assert (record["service"], record["reason"], record["outcome"]) == (service, reason, "denied")
    assert record["actor_subject"] == subject
    # Only opaque ids and codes: never a name or a student number.
    assert "林小雨" not in str(record)
    assert "G360702201401010011" not in str(record)


def test_only_auditors_and_the_city_read_the_log_and_the_chain_is_intact(
    world: tuple[httpx.Client, DemoWorld],
) -> None:
    client, _ = world
    for user in ("zhanggong.admin", "psych.teacher", "police.zhanggong"):
        assert client.get("/v1/audit/records", headers=auth(user)).status_code == 403
    verification = client.get("/v1/audit/verification", headers=auth("city.admin"))
    assert verification.status_code == 200, verification.text
    assert verification.json()["intact"] is True
    assert int(verification.json()["records_checked"]) > 0
