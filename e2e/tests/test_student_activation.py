"""A student's first sign-in, end to end: a new student of demo class 2024-01 gets a Keycloak
account from `identity provision students` (as the bulk Job runs it; a second run creates
nothing), the school admin fetches the class's activation slips through the gateway, a wrong
code is refused, the right one sets the password, the student then gets a token from Keycloak
with it, and the used code does not work again."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from xinyu_e2e import GATEWAY_URL, auth, password_token
from xinyu_e2e.seed import DEMO_COUNTY, DEMO_SCHOOL, DemoWorld, ensure_demo_world

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUN_SERVICE = ROOT / "infra" / "local" / "run-service"
CLASS = f"{DEMO_SCHOOL}-2024-01"
PASSWORD = "Xinyu-Activated-2026!"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[httpx.Client, DemoWorld]]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as client:
        yield client, ensure_demo_world(client)


def invented_student_number() -> str:
    """G + an invented resident ID of a child born in 2016 in 章贡区, with its check digit."""
    body = (
        "3607022016" + f"{secrets.randbelow(12) + 1:02d}" + "15" + f"{secrets.randbelow(999):03d}"
    )
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return f"G{body}{check}"


def provision(*extra: str) -> dict[str, Any]:
    """`identity provision students --scope <the demo school>` as the Job runs it, with the local
    settings (infra/local/run-service); its summary log line."""
    done = subprocess.run(
        [str(RUN_SERVICE), "identity", "provision", "students", "--scope", DEMO_SCHOOL, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [
        json.loads(x) for x in done.stderr.splitlines() + done.stdout.splitlines() if x[:1] == "{"
    ]
    summaries = [x for x in lines if x.get("message") == "student accounts provisioned"]
    assert summaries, done.stderr[-2000:]
    summary: dict[str, Any] = summaries[-1]
    return summary


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def activate(client: httpx.Client, login_name: str, code: str) -> httpx.Response:
    return client.post(
        "/v1/account-activations",
        json={"login_name": login_name, "activation_code": code, "new_password": PASSWORD},
    )


def test_a_provisioned_student_activates_with_the_slip_and_signs_in(
    world: tuple[httpx.Client, DemoWorld],
) -> None:
    client, _ = world
    number = invented_student_number()
    enrolled = client.post(
        "/v1/students",
        json={
            "student_number": number,
            "full_name": "激活测试",
            "school_code": DEMO_SCHOOL,
            "county_code": DEMO_COUNTY,
            "gender": "female",
            "birth_date": date(2016, 5, 15).isoformat(),
            "class_code": CLASS,
        },
        headers=auth("school.admin"),
    )
    assert enrolled.status_code == 201, enrolled.text
    student_id = enrolled.json()["student_id"]

    # --recheck: the realm may have been re-imported since identity recorded earlier accounts.
    first = provision("--recheck")
    assert first["accounts_created"] >= 1
    assert first["accounts_failed"] == 0
    again = provision()
    assert again["students"] == 0
    assert again["accounts_created"] == 0

    issued = client.post(f"/v1/classes/{CLASS}/activation-codes", headers=auth("school.admin"))
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    slips = {s["student_id"]: s for s in issued.json()["slips"]}
    slip = slips[student_id]
    login_name, code = slip["login_name"], slip["activation_code"]
    assert number not in login_name
    assert slip["full_name"] == "激活测试"

    # Only the school's admin issues slips.
    refused = client.post(f"/v1/classes/{CLASS}/activation-codes", headers=auth("head.teacher"))
    assert refused.status_code == 403

    wrong = activate(client, login_name, "AAAA-AAAA-AA" if code != "AAAA-AAAA-AA" else "BBBB")
    assert wrong.status_code == 403, wrong.text
    unknown = activate(client, f"s{DEMO_SCHOOL}-99999", code)
    assert unknown.status_code == 403
    assert unknown.json() == wrong.json()

    done = activate(client, login_name, code)
    assert done.status_code == 200, done.text
    assert done.json() == {"login_name": login_name}

    token = claims(password_token(login_name, PASSWORD))
    assert token["preferred_username"] == login_name
    assert "student" in token["realm_access"]["roles"]
    assert token["org_unit"] == DEMO_SCHOOL
    assert "激活测试" not in json.dumps(token, ensure_ascii=False)

    reused = activate(client, login_name, code)
    assert reused.status_code == 403

    # The account is activated: a new batch of slips leaves the student out.
    later = client.post(f"/v1/classes/{CLASS}/activation-codes", headers=auth("school.admin"))
    assert student_id not in {s["student_id"] for s in later.json()["slips"]}
    assert later.json()["already_activated"] >= 1
