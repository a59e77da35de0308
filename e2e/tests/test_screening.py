"""A class sits a screening through the gateway with real tokens: the county opens a campaign
with PHQ-A for the demo school, the head teacher starts a class sitting, students join with the
join code and the personal code from their slips (no Keycloak token), save, resume and submit.
A wrong code is refused, a missing item is named, a resubmission is answered as the first. An
item-9 answer raises a flagged result the psychology teacher sees with its answers; the head
teacher sees only that the student needs follow-up; another county sees nothing; the psychology
teacher confirms a level with a reason, and the school records informing the guardian."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from xinyu_e2e import GATEWAY_URL, auth
from xinyu_e2e.screening import (
    PHQ_A,
    ScreeningWorld,
    campaign_body,
    close_campaign,
    ensure_screening_world,
    join,
    ok,
    open_campaign,
    phq_a_answers,
    sitting_auth,
    start_sitting,
    submission,
)
from xinyu_e2e.seed import DEMO_SCHOOL

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def world(gateway: httpx.Client) -> ScreeningWorld:
    return ensure_screening_world(gateway)


@pytest.fixture(scope="module")
def campaign(gateway: httpx.Client, world: ScreeningWorld) -> Iterator[str]:
    campaign_id = open_campaign(gateway)
    yield campaign_id
    close_campaign(gateway, campaign_id)


@pytest.fixture(scope="module")
def sitting(gateway: httpx.Client, world: ScreeningWorld, campaign: str) -> dict[str, Any]:
    return start_sitting(gateway, campaign, world.class_code)


def every(
    gateway: httpx.Client, path: str, field: str, user: str, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paged school list, page after page (the demo school holds thousands of
    results left by benchmark runs)."""
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        page = ok(
            gateway.get(
                path, params={**params, "page_size": 500, "page_token": token}, headers=auth(user)
            )
        )
        found.extend(page.get(field, []))
        token = page.get("next_page_token", "")
        if not token:
            return found


def joined(gateway: httpx.Client, sitting: dict[str, Any], student_id: str) -> dict[str, Any]:
    return ok(join(gateway, sitting["sitting"]["join_code"], sitting["codes"][student_id]))


def test_the_head_teacher_gets_a_join_code_and_a_slip_per_student(
    sitting: dict[str, Any], world: ScreeningWorld
) -> None:
    assert len(sitting["sitting"]["join_code"]) == 6
    assert set(world.students.values()) <= set(sitting["codes"])
    assert all(len(code) == 6 for code in sitting["codes"].values())
    assert len(set(sitting["codes"].values())) == len(sitting["codes"])


def test_a_wrong_personal_code_is_refused(
    gateway: httpx.Client, sitting: dict[str, Any], world: ScreeningWorld
) -> None:
    right = sitting["codes"][world.student(3)]
    wrong = "ZZZZZZ" if right != "ZZZZZZ" else "YYYYYY"
    reply = join(gateway, sitting["sitting"]["join_code"], wrong)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["loc"] == ["body", "personal_code"]
    assert "sitting_token" not in reply.text
    unknown = join(gateway, "ZZZZZZ", right)
    assert unknown.status_code == 404, unknown.text
    assert "sitting_token" not in unknown.text


def test_a_student_saves_resumes_and_submits_once(
    gateway: httpx.Client, sitting: dict[str, Any], world: ScreeningWorld
) -> None:
    student = world.student(0)
    first = joined(gateway, sitting, student)
    assert first["sitting"]["sitting_id"] == sitting["sitting"]["sitting_id"]
    assert [entry["instrument"] for entry in first["battery"]] == [PHQ_A]
    token = first["sitting_token"]

    saved = gateway.put(
        "/v1/screening/sittings/answers",
        json={**PHQ_A, "answers": {"q1": 1, "q2": 0, "q3": 2}},
        headers=sitting_auth(token),
    )
    assert ok(saved) == {"answered": 3}
    assert saved.headers["cache-control"] == "no-store"

    # The app was closed; the student joins again and finds what they saved.
    resumed = joined(gateway, sitting, student)
    assert resumed["battery"][0]["answers"] == {"q1": 1, "q2": 0, "q3": 2}
    assert resumed["battery"][0]["submitted"] is False

    answers = {**phq_a_answers(), "q1": 1, "q3": 2}
    body = submission(answers)
    accepted = gateway.post(
        "/v1/screening/sittings/submissions",
        json=body,
        headers=sitting_auth(resumed["sitting_token"]),
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json() == {"submission_id": body["submission_id"], "duplicate": False}

    # The answer was lost on the way back; the app sends the same submission again.
    again = gateway.post(
        "/v1/screening/sittings/submissions", json=body, headers=sitting_auth(token)
    )
    assert again.status_code == 200, again.text
    assert again.json() == {"submission_id": body["submission_id"], "duplicate": True}

    after = joined(gateway, sitting, student)
    assert after["battery"][0]["submitted"] is True


def test_a_missing_item_is_named(
    gateway: httpx.Client, sitting: dict[str, Any], world: ScreeningWorld
) -> None:
    token = joined(gateway, sitting, world.student(1))["sitting_token"]
    answers = phq_a_answers()
    del answers["q4"]
    reply = gateway.post(
        "/v1/screening/sittings/submissions",
        json=submission(answers),
        headers=sitting_auth(token),
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["loc"] == ["body", "answers.q4"]


def test_answers_need_a_sitting_token(gateway: httpx.Client) -> None:
    body = submission(phq_a_answers())
    without = gateway.post("/v1/screening/sittings/submissions", json=body)
    with_a_staff_token = gateway.post(
        "/v1/screening/sittings/submissions", json=body, headers=auth("head.teacher")
    )
    assert (without.status_code, with_a_staff_token.status_code) == (401, 401)


def test_an_item_9_answer_is_flagged_for_the_psychology_teacher_only(
    gateway: httpx.Client, sitting: dict[str, Any], world: ScreeningWorld, campaign: str
) -> None:
    student = world.student(2)
    token = joined(gateway, sitting, student)["sitting_token"]
    body = submission(phq_a_answers(item9=1))
    ok(
        gateway.post("/v1/screening/sittings/submissions", json=body, headers=sitting_auth(token)),
        201,
    )
    submission_id = body["submission_id"]

    # The psychology teacher of the school sees the suggested level and the answers.
    listed = ok(
        gateway.get(
            "/v1/screening/results",
            params={"campaign_id": campaign, "org_unit": DEMO_SCHOOL, "at_least": "red"},
            headers=auth("psych.teacher"),
        )
    )
    flagged = {r["submission_id"]: r for r in listed["results"]}
    assert submission_id in flagged, listed
    assert flagged[submission_id]["student_id"] == student
    assert flagged[submission_id]["suggested_level"] == "red"
    assert flagged[submission_id]["critical"] is True
    result_reply = gateway.get(
        f"/v1/screening/results/{submission_id}", headers=auth("psych.teacher")
    )
    result = ok(result_reply)
    assert result_reply.headers["cache-control"] == "no-store"
    assert result["answers"]["q9"] == 1
    assert result["summary"]["suggested_level"] == "red"
    assert any("q9" in item["item_ids"] for item in result["critical_items"])

    # The head teacher of the class sees that the student needs follow-up, nothing more.
    class_view = ok(
        gateway.get(
            "/v1/screening/results",
            params={"campaign_id": campaign, "org_unit": world.class_code},
            headers=auth("head.teacher"),
        )
    )
    seen = {r["submission_id"]: r for r in class_view["results"]}
    assert seen[submission_id]["needs_follow_up"] is True
    assert seen[submission_id]["suggested_level"] == ""
    assert seen[submission_id]["confirmed_level"] == ""
    assert all(not r["suggested_level"] for r in class_view["results"])
    assert (
        gateway.get(
            f"/v1/screening/results/{submission_id}", headers=auth("head.teacher")
        ).status_code
        == 403
    )

    # Another county's official is refused, whichever way they ask.
    assert (
        gateway.get(
            "/v1/screening/results",
            params={"campaign_id": campaign, "org_unit": DEMO_SCHOOL},
            headers=auth("nankang.admin"),
        ).status_code
        == 403
    )
    assert (
        gateway.get(
            f"/v1/screening/results/{submission_id}", headers=auth("nankang.admin")
        ).status_code
        == 403
    )

    # Flagged since the last confirmation: on the school's re-screening list, at red.
    candidates = every(
        gateway, f"/v1/screening/schools/{DEMO_SCHOOL}/rescreening", "candidates", "school.admin"
    )
    assert {c["student_id"]: c["level"] for c in candidates}[student] == "red"

    # The psychology teacher talks with the student and confirms a level, with a reason.
    without_reason = gateway.post(
        f"/v1/screening/results/{submission_id}/confirmation",
        json={"level": "orange", "reason": ""},
        headers=auth("psych.teacher"),
    )
    assert without_reason.status_code == 422
    confirmed = ok(
        gateway.post(
            f"/v1/screening/results/{submission_id}/confirmation",
            json={"level": "orange", "reason": "面谈后评估：有一过性消极念头，无计划，已联系家长"},
            headers=auth("psych.teacher"),
        )
    )
    assert confirmed["confirmed_level"] == "orange"
    assert confirmed["suggested_level"] == "red"
    reread = ok(
        gateway.get(f"/v1/screening/results/{submission_id}", headers=auth("psych.teacher"))
    )
    assert reread["confirmation_reason"].startswith("面谈后评估")
    assert reread["confirmed_at"]
    # The county sees the confirmed level, never the suggestion.
    county_view = ok(
        gateway.get(
            "/v1/screening/results",
            params={"campaign_id": campaign, "org_unit": DEMO_SCHOOL},
            headers=auth("zhanggong.admin"),
        )
    )
    county_seen = {r["submission_id"]: r for r in county_view["results"]}
    assert county_seen[submission_id]["confirmed_level"] == "orange"
    assert all(not r["suggested_level"] for r in county_view["results"])

    # The flag opened a task to inform the guardian; the school records how it was done.
    tasks = every(
        gateway, f"/v1/screening/schools/{DEMO_SCHOOL}/guardian-tasks", "tasks", "psych.teacher"
    )
    task = next(t for t in tasks if t["submission_id"] == submission_id)
    assert (task["student_id"], task["status"]) == (student, "open")
    done = ok(
        gateway.post(
            f"/v1/screening/guardian-tasks/{task['task_id']}/completion",
            json={"note": "电话告知母亲，约定周五到校面谈"},
            headers=auth("school.admin"),
        )
    )
    assert (done["status"], done["note"]) == ("done", "电话告知母亲，约定周五到校面谈")


def test_coverage_counts_the_class(
    gateway: httpx.Client, sitting: dict[str, Any], world: ScreeningWorld, campaign: str
) -> None:
    token = joined(gateway, sitting, world.student(3))["sitting_token"]
    ok(
        gateway.post(
            "/v1/screening/sittings/submissions",
            json=submission(phq_a_answers()),
            headers=sitting_auth(token),
        ),
        201,
    )
    coverage = ok(
        gateway.get(
            f"/v1/screening/campaigns/{campaign}/coverage",
            params={"org_unit": DEMO_SCHOOL},
            headers=auth("psych.teacher"),
        )
    )
    rows = {row["org_unit"]: row for row in coverage["rows"]}
    mine = rows[world.class_code]
    assert mine["expected"] >= len(world.students)
    assert mine["submitted"] >= 1
    assert mine["started"] >= mine["submitted"]


def test_only_the_county_of_the_school_opens_its_campaign(gateway: httpx.Client) -> None:
    for user in ("nankang.admin", "school.admin", "psych.teacher"):
        reply = gateway.post("/v1/screening/campaigns", json=campaign_body(), headers=auth(user))
        assert reply.status_code == 403, f"{user}: {reply.text}"


def test_a_submission_id_is_a_uuid(gateway: httpx.Client) -> None:
    reply = gateway.post(
        "/v1/screening/sittings/submissions",
        json={**submission(phq_a_answers()), "submission_id": str(uuid.uuid4())[:8]},
        headers=sitting_auth("anything"),
    )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "submission_id"]
