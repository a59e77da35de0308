"""A screening world on top of the demo world, built through the gateway as the people who would
build it: the demo school gets a junior-secondary class (year 7, so PHQ-A applies) led by
`head.teacher`, with a few invented students; the county opens campaigns; teachers start
sittings; students join with the codes from their slips. Used by the screening e2e tests, the
access matrix and the submissions benchmark."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from xinyu_e2e import auth
from xinyu_e2e.seed import DEMO_COUNTY, DEMO_SCHOOL, TERM_START, DemoWorld, ensure_demo_world

# The school year starts on 1 September (screening's grade bands count from it).
PHQ_A = {"instrument_id": "phq-a", "version": "1.0.0"}
JUNIOR_BAND = "junior_secondary"
# Invented students of the junior class, aged 12–13, with well-formed invented numbers.
SCREENING_STUDENTS = (
    ("G360702201305050051", "周小北", "female", "2013-05-05"),
    ("G360702201306060062", "吴一帆", "male", "2013-06-06"),
    ("G360702201307070073", "郑可欣", "female", "2013-07-07"),
    ("G360702201308080084", "冯子轩", "male", "2013-08-08"),
)


def junior_cohort(today: date | None = None) -> int:
    """The entry year of the classes in their first junior-secondary year (year 7 of a
    nine-year school) in the current school year."""
    today = today or datetime.now(UTC).date()
    school_year = today.year if today.month >= 9 else today.year - 1
    return school_year - 6


def junior_class(number: int = 1, cohort: int | None = None) -> str:
    return f"{DEMO_SCHOOL}-{cohort or junior_cohort()}-{number:02d}"


@dataclass(frozen=True)
class ScreeningWorld:
    demo: DemoWorld
    class_code: str
    # student number → student id, in SCREENING_STUDENTS' order
    students: dict[str, str]

    def student(self, index: int) -> str:
        return self.students[SCREENING_STUDENTS[index][0]]


def ok(reply: httpx.Response, *expected: int) -> dict[str, Any]:
    if reply.status_code not in (expected or (200, 201)):
        raise AssertionError(
            f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {reply.text}"
        )
    body: dict[str, Any] = reply.json()
    return body


def ensure_screening_world(gateway: httpx.Client) -> ScreeningWorld:
    """Idempotent: the class, its students and its head teacher are created once."""
    demo = ensure_demo_world(gateway)
    school = auth("school.admin")
    cohort = junior_cohort()
    class_code = ok(
        gateway.post(
            f"/v1/schools/{DEMO_SCHOOL}/classes",
            json={"cohort": cohort, "number": 1},
            headers=school,
        )
    )["class_code"]
    students: dict[str, str] = {}
    for number, name, gender, birth_date in SCREENING_STUDENTS:
        students[number] = ok(
            gateway.post(
                "/v1/students",
                json={
                    "student_number": number,
                    "full_name": name,
                    "school_code": DEMO_SCHOOL,
                    "county_code": DEMO_COUNTY,
                    "gender": gender,
                    "birth_date": birth_date,
                    "class_code": class_code,
                },
                headers=school,
            )
        )["student_id"]
    head_teacher = ok(gateway.get("/v1/me", headers=auth("head.teacher")))
    leads = {
        r["class_code"] for r in head_teacher["relationships"] if r["kind"] == "head_teacher_of"
    }
    if class_code not in leads:
        ok(
            gateway.post(
                "/v1/relationships",
                json={
                    "person_id": head_teacher["person"]["person_id"],
                    "kind": "head_teacher_of",
                    "class_code": class_code,
                    "valid_from": TERM_START,
                },
                headers=school,
            )
        )
    return ScreeningWorld(demo=demo, class_code=class_code, students=students)


def campaign_body(
    name: str = "",
    *,
    schools: tuple[str, ...] = (DEMO_SCHOOL,),
    consent_under_age: int | None = 0,
    instruments: tuple[dict[str, str], ...] = (PHQ_A,),
) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "name": name or f"e2e 普查 {secrets.token_hex(3)}",
        "kind": "annual",
        "scope_code": DEMO_COUNTY,
        "school_codes": list(schools),
        "opens_at": (now - timedelta(minutes=5)).isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "batteries": [{"grade_band": JUNIOR_BAND, "instruments": list(instruments)}],
    }
    if consent_under_age is not None:
        body["consent_required_under_age"] = consent_under_age
    return body


def open_campaign(gateway: httpx.Client, user: str = "zhanggong.admin", **kwargs: Any) -> str:
    campaign = ok(
        gateway.post("/v1/screening/campaigns", json=campaign_body(**kwargs), headers=auth(user)),
        201,
    )
    return str(campaign["campaign_id"])


def close_campaign(gateway: httpx.Client, campaign_id: str, user: str = "zhanggong.admin") -> None:
    gateway.post(f"/v1/screening/campaigns/{campaign_id}/close", headers=auth(user))


def start_sitting(
    gateway: httpx.Client, campaign_id: str, class_code: str, user: str = "head.teacher"
) -> dict[str, Any]:
    """The sitting and its participants (student id → personal code in ``codes``)."""
    sitting = ok(
        gateway.post(
            "/v1/screening/sittings",
            json={"campaign_id": campaign_id, "class_code": class_code},
            headers=auth(user),
        ),
        201,
    )
    sitting["codes"] = {p["student_id"]: p["personal_code"] for p in sitting["participants"]}
    return sitting


def join(gateway: httpx.Client, join_code: str, personal_code: str) -> httpx.Response:
    """What a student's app sends: no token, the two codes."""
    return gateway.post(
        "/v1/screening/sittings/join",
        json={"join_code": join_code, "personal_code": personal_code},
    )


def phq_a_answers(item9: int = 0, level: int = 0) -> dict[str, int]:
    """Complete PHQ-A answers: every scored item at ``level``, item 9 at ``item9``, the extra
    questions no (the difficulty question is asked only after a problem and left out)."""
    answers = {f"q{n}": level for n in range(1, 9)}
    answers["q9"] = item9
    answers.update(past_year_depressed=0, past_month_suicidal_thoughts=0, lifetime_attempt=0)
    return answers


def submission(answers: dict[str, int], submission_id: str = "") -> dict[str, Any]:
    return {**PHQ_A, "answers": answers, "submission_id": submission_id or str(uuid.uuid4())}


def sitting_auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
