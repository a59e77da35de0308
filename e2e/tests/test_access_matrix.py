"""Every cell of docs/access-matrix.md, with real tokens from the running Keycloak. The table
is the single statement of who may call what; this test keeps it true."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from xinyu_e2e import GATEWAY_URL, auth
from xinyu_e2e.alerts import (
    POLICE,
    POLICE_REPORTS,
    UnitProducer,
    encode,
    report,
    wait_for_task,
)
from xinyu_e2e.screening import (
    PHQ_A,
    campaign_body,
    ensure_screening_world,
    join,
    ok,
    open_campaign,
    phq_a_answers,
    sitting_auth,
    start_sitting,
    submission,
)
from xinyu_e2e.seed import DEMO_COUNTY, DEMO_SCHOOL, DEMO_STUDENTS, DemoWorld, ensure_demo_world

pytestmark = pytest.mark.e2e

MATRIX = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"


def read_matrix() -> list[tuple[str, str, int]]:
    text = MATRIX.read_text(encoding="utf-8")
    block = text.split("<!-- matrix:start -->", 1)[1].split("<!-- matrix:end -->", 1)[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    cases = []
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        request = re.search(r"`([^`]+)`", cells[0])
        assert request, f"no request in {cells[0]!r}"
        for user, expected in zip(header[1:], cells[1:], strict=True):
            cases.append((request.group(1), user, int(expected)))
    return cases


CASES = read_matrix()


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[httpx.Client, DemoWorld]]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=10.0) as client:
        yield client, ensure_demo_world(client)


@pytest.fixture(scope="module")
def screening(world: tuple[httpx.Client, DemoWorld]) -> dict[str, str]:
    """The screening rows' placeholders: a campaign for the demo school, a flagged result of a
    student of the junior class in it, the guardian-informing task it raised, and a spare
    campaign to close. Built only when a screening row runs."""
    client, _ = world
    screening_world = ensure_screening_world(client)
    campaign = open_campaign(client)
    sitting = start_sitting(client, campaign, screening_world.class_code)
    student = screening_world.student(0)
    token = ok(join(client, sitting["sitting"]["join_code"], sitting["codes"][student]))[
        "sitting_token"
    ]
    flagged = submission(phq_a_answers(item9=1))
    ok(
        client.post(
            "/v1/screening/sittings/submissions", json=flagged, headers=sitting_auth(token)
        ),
        201,
    )
    result = flagged["submission_id"]
    tasks = ok(
        client.get(
            f"/v1/screening/schools/{DEMO_SCHOOL}/guardian-tasks", headers=auth("psych.teacher")
        )
    )["tasks"]
    task = next(t["task_id"] for t in tasks if t["submission_id"] == result)
    return {
        "class": screening_world.class_code,
        "campaign": campaign,
        "result": result,
        "task": task,
        "spare": open_campaign(client),
    }


ALERT_PREFIXES = ("/v1/alerts", "/v1/cases/", "/v1/review-tasks", "/v1/locate-requests")


@pytest.fixture(scope="module")
def alerts(world: tuple[httpx.Client, DemoWorld]) -> dict[str, str]:
    """The alert rows' placeholders (see docs/access-matrix.md): a high report about the
    child, two suicide-risk reports whose cases the policy opened (one closed here), and a
    police report about nobody the platform knows, its review task dismissed by the county.
    Built only when an alert row runs."""
    client, demo = world

    def raised(category: str, severity: str) -> dict[str, Any]:
        return ok(
            client.post(
                "/v1/alerts",
                json={
                    "student_id": demo.student(0),
                    "category": category,
                    "severity": severity,
                    "description": f"matrix: {category}",
                },
                headers=auth("psych.teacher"),
            ),
            201,
        )

    alert = raised("withdrawal", "high")
    crisis = raised("suicide_risk", "critical")
    closing = raised("suicide_risk", "critical")
    psych = auth("psych.teacher")
    ok(
        client.post(
            f"/v1/cases/{closing['case_id']}/steps",
            json={"kind": "guardian_contact", "note": "matrix: the mother was phoned"},
            headers=psych,
        )
    )
    ok(
        client.post(
            f"/v1/cases/{closing['case_id']}/closure",
            json={"summary": "matrix: safe at home"},
            headers=psych,
        )
    )
    external_id = f"MX-{uuid.uuid4().hex[:12]}"
    police = UnitProducer(POLICE)
    police.send(POLICE_REPORTS, encode(report(external_id, number="G360702201300000000")))
    assert police.flush() == 0
    assert not police.errors, police.errors
    task = wait_for_task(client, lambda t: t["external_id"] == external_id)
    ok(
        client.post(
            f"/v1/review-tasks/{task['task_id']}/resolution",
            json={"dismiss_reason": "not-a-student"},
            headers=auth("zhanggong.admin"),
        )
    )
    return {
        "alert": alert["alert_id"],
        "crisis": crisis["alert_id"],
        "case": crisis["case_id"],
        "closed": closing["case_id"],
        "task": task["task_id"],
    }


def alert_body_for(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    if method == "GET" or path.endswith("/case") or path.endswith("/acknowledgement"):
        return None
    if path == "/v1/alerts":
        return {
            "student_id": ids["child"],
            "category": "conflict",
            "severity": "low",
            "description": "matrix: a quarrel in the playground",
        }
    if path.startswith("/v1/alerts/") and path.endswith("/closure"):
        return {"outcome": "handled"}
    if path.endswith("/steps"):
        return {"kind": "guardian_contact", "note": "matrix: the mother was phoned again"}
    if path.startswith("/v1/cases/") and path.endswith("/closure"):
        return {"summary": "matrix: closed again"}
    if path.endswith("/resolution"):
        return {"dismiss_reason": "not-a-student"}
    if path == "/v1/locate-requests":
        return {
            "student_id": ids["child"],
            "details": "matrix: last seen at the school gate",
            "school_contact": "0797-1234567",
        }
    raise AssertionError(f"no body known for {method} {path}")


def body_for(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    if path.startswith("/v1/screening/"):
        return screening_body_for(method, path, ids)
    if path.startswith(ALERT_PREFIXES):
        return alert_body_for(method, path, ids)
    if method != "POST":
        return None
    if path == "/v1/schools":
        return {
            "school_code": DEMO_SCHOOL,
            "name": "章贡区心育示范学校",
            "county_code": DEMO_COUNTY,
            "school_type": "nine_year",
            "enrolment": 1200,
            "has_counselling_station": True,
            "has_hotline": True,
            "has_counsellor": True,
        }
    if path.endswith("/classes"):
        return {"cohort": 2024, "number": 1}
    if path.endswith("/activation-codes"):
        return None
    if path == "/v1/account-activations":
        # No such login name: refused like a wrong code, and no account's failures count up.
        return {
            "login_name": f"s{DEMO_SCHOOL}-99999",
            "activation_code": "AAAA-AAAA-AA",
            "new_password": "Xinyu-Matrix-2026!",
        }
    if path == "/v1/students":
        number, name, gender, class_code = DEMO_STUDENTS[0]
        return {
            "student_number": number,
            "full_name": name,
            "school_code": DEMO_SCHOOL,
            "county_code": DEMO_COUNTY,
            "gender": gender,
            "class_code": class_code,
        }
    raise AssertionError(f"no body known for POST {path}")


def screening_body_for(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    if method == "GET" or path.endswith("/close"):
        return None
    if path == "/v1/screening/instruments":
        return {"definition": "id: not-a-definition"}
    if path == "/v1/screening/campaigns":
        return campaign_body("matrix")
    if path.endswith("/consents"):
        return {"student_id": ids["child"], "granted": True}
    if path == "/v1/screening/sittings":
        return {"campaign_id": ids["campaign"], "class_code": ids["class"]}
    if path == "/v1/screening/sittings/join":
        return {"join_code": "ZZZZZZ", "personal_code": "ZZZZZZ"}
    if path == "/v1/screening/sittings/answers":
        return {**PHQ_A, "answers": {"q1": 0}}
    if path == "/v1/screening/sittings/submissions":
        return submission(phq_a_answers())
    if path.endswith("/confirmation"):
        return {"level": "red", "reason": "matrix: confirmed again"}
    if path.endswith("/completion"):
        return {"note": "matrix: the mother was phoned"}
    raise AssertionError(f"no body known for {method} {path}")


def test_matrix_covers_every_demo_role() -> None:
    users = {user for _, user, _ in CASES}
    assert {"city.admin", "head.teacher", "guardian.demo", "police.zhanggong", "none"} <= users
    assert len(CASES) >= 100


@pytest.mark.parametrize(("request_line", "user", "expected"), CASES)
def test_cell(
    world: tuple[httpx.Client, DemoWorld],
    request: pytest.FixtureRequest,
    request_line: str,
    user: str,
    expected: int,
) -> None:
    client, demo = world
    method, target = request_line.split(" ", 1)
    ids = {
        "child": demo.student(0),
        "other": demo.student(2),
        "school": DEMO_SCHOOL,
        "county": DEMO_COUNTY,
    }
    if target.startswith("/v1/screening/"):
        ids.update(request.getfixturevalue("screening"))
    if target.startswith(ALERT_PREFIXES):
        ids.update(request.getfixturevalue("alerts"))
    target = target.format(**ids)
    path = target.split("?", 1)[0]
    headers = {} if user == "none" else auth(user)
    reply = client.request(method, target, json=body_for(method, path, ids), headers=headers)
    assert reply.status_code == expected, f"{user} {request_line}: {reply.text}"
