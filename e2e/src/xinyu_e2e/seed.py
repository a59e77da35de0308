"""The demo world, created through the gateway as the people who would create it: the county
registers its school, the school its classes, staff, guardians and students. Idempotent, so
`make up` and the tests can both call it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from xinyu_e2e import auth

DEMO_SCHOOL = "3607020001"
DEMO_COUNTY = "360702"
NANKANG_SCHOOL = "3607030001"
CLASS_ONE = f"{DEMO_SCHOOL}-2024-01"
CLASS_TWO = f"{DEMO_SCHOOL}-2024-02"
TERM_START = "2026-09-01"
# Fictional children with well-formed but invented student numbers.
DEMO_STUDENTS = (
    ("G360702201401010011", "林小雨", "female", CLASS_ONE),
    ("G360702201402020022", "陈子墨", "male", CLASS_ONE),
    ("G360702201503030033", "黄欣怡", "female", CLASS_TWO),
)


@dataclass(frozen=True)
class DemoWorld:
    # student number → student id
    students: dict[str, str]

    def student(self, index: int) -> str:
        return self.students[DEMO_STUDENTS[index][0]]


def _ok(reply: httpx.Response) -> dict[str, Any]:
    if reply.status_code not in (200, 201):
        raise RuntimeError(
            f"seeding failed: {reply.request.url.path} {reply.status_code} {reply.text}"
        )
    body: dict[str, Any] = reply.json()
    return body


def ensure_demo_world(gateway: httpx.Client) -> DemoWorld:
    county, school = auth("zhanggong.admin"), auth("school.admin")
    _ok(
        gateway.post(
            "/v1/schools",
            json={
                "school_code": DEMO_SCHOOL,
                "name": "章贡区心育示范学校",
                "county_code": DEMO_COUNTY,
                "school_type": "nine_year",
                "enrolment": 1200,
                "has_counselling_station": True,
                "has_hotline": True,
                "has_counsellor": True,
            },
            headers=county,
        )
    )
    _ok(
        gateway.post(
            "/v1/schools",
            json={
                "school_code": NANKANG_SCHOOL,
                "name": "南康区示范学校",
                "county_code": "360703",
                "school_type": "primary",
                "enrolment": 600,
            },
            headers=auth("nankang.admin"),
        )
    )
    for number in (1, 2):
        _ok(
            gateway.post(
                f"/v1/schools/{DEMO_SCHOOL}/classes",
                json={"cohort": 2024, "number": number},
                headers=school,
            )
        )
    students: dict[str, str] = {}
    for student_number, name, gender, class_code in DEMO_STUDENTS:
        student = _ok(
            gateway.post(
                "/v1/students",
                json={
                    "student_number": student_number,
                    "full_name": name,
                    "school_code": DEMO_SCHOOL,
                    "county_code": DEMO_COUNTY,
                    "gender": gender,
                    "class_code": class_code,
                },
                headers=school,
            )
        )
        students[student_number] = student["student_id"]
    people = {}
    # Identity syncs these people's Keycloak accounts: the school admin's role is recorded
    # explicitly, the others' come from the relationships below (infra/keycloak/demo/users.json
    # gives each demo user the same role).
    for username, full_name, kind, home, roles in (
        ("school.admin", "赵校长", "staff", DEMO_SCHOOL, ["school_admin"]),
        ("head.teacher", "李老师", "staff", DEMO_SCHOOL, []),
        ("psych.teacher", "王老师", "staff", DEMO_SCHOOL, []),
        ("guardian.demo", "林家长", "guardian", "", []),
    ):
        person = _ok(
            gateway.post(
                "/v1/people",
                json={
                    "kind": kind,
                    "username": username,
                    "full_name": full_name,
                    "home_unit_code": home,
                    "roles": roles,
                },
                headers=school,
            )
        )
        people[username] = person["person_id"]
    first_child = students[DEMO_STUDENTS[0][0]]
    for body in (
        {"person_id": people["head.teacher"], "kind": "head_teacher_of", "class_code": CLASS_ONE},
        {
            "person_id": people["psych.teacher"],
            "kind": "psych_teacher_of",
            "school_code": DEMO_SCHOOL,
            "full_time": True,
        },
        {"person_id": people["guardian.demo"], "kind": "guardian_of", "student_id": first_child},
    ):
        _ok(
            gateway.post(
                "/v1/relationships", json={**body, "valid_from": TERM_START}, headers=school
            )
        )
    return DemoWorld(students=students)
