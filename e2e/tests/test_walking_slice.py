"""The walking slice through the running platform: gateway → identity (row + outbox) → Kafka →
archives consumer → archive readable through the gateway. Real Keycloak tokens throughout."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from uuid import UUID

import httpx
import pytest

from xinyu_e2e import GATEWAY_URL, auth
from xinyu_e2e.seed import ensure_demo_world

pytestmark = pytest.mark.e2e

SCHOOL = "3607020001"
COUNTY = "360702"


def new_student_number() -> str:
    # Random but well-formed (G + 18 characters); never a real child's number.
    return "G3607029" + "".join(secrets.choice("0123456789") for _ in range(10)) + "X"


@pytest.fixture(scope="module")
def gateway() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=10.0) as client:
        ensure_demo_world(client)
        yield client


def enrol(gateway: httpx.Client, number: str, user: str = "school.admin") -> httpx.Response:
    return gateway.post(
        "/v1/students",
        json={
            "student_number": number,
            "full_name": "演示学生",
            "school_code": SCHOOL,
            "county_code": COUNTY,
        },
        headers=auth(user),
    )


def test_gateway_is_live_and_ready(gateway: httpx.Client) -> None:
    assert gateway.get("/livez").json() == {"status": "alive"}
    ready = gateway.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["identity"] == "ok"


def test_enrolment_opens_an_archive_through_kafka(gateway: httpx.Client) -> None:
    created = enrol(gateway, new_student_number())
    assert created.status_code == 201, created.text
    student_id = created.json()["student_id"]
    UUID(student_id)

    deadline = time.monotonic() + 30
    archive = gateway.get(f"/v1/students/{student_id}/archive", headers=auth("psych.teacher"))
    while archive.status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
        archive = gateway.get(f"/v1/students/{student_id}/archive", headers=auth("psych.teacher"))
    assert archive.status_code == 200, archive.text
    assert archive.json()["school_code"] == SCHOOL
    assert archive.json()["student_id"] == student_id


def test_repeated_enrolment_changes_nothing(gateway: httpx.Client) -> None:
    number = new_student_number()
    first = enrol(gateway, number)
    again = enrol(gateway, number)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["student_id"] == again.json()["student_id"]


def test_bad_input_gets_an_error_naming_the_field(gateway: httpx.Client) -> None:
    reply = enrol(gateway, "not-a-number")
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "student_number"]


def test_scope_and_roles_are_enforced(gateway: httpx.Client) -> None:
    student_id = enrol(gateway, new_student_number()).json()["student_id"]
    assert gateway.get(f"/v1/students/{student_id}").status_code == 401
    forged = {"Authorization": "Bearer " + auth("school.admin")["Authorization"][7:-4] + "AAAA"}
    assert gateway.get(f"/v1/students/{student_id}", headers=forged).status_code == 401
    own_county = gateway.get(f"/v1/students/{student_id}", headers=auth("zhanggong.admin"))
    assert own_county.status_code == 200
    other_county = gateway.get(f"/v1/students/{student_id}", headers=auth("nankang.admin"))
    assert other_county.status_code == 403
    # A head teacher sees that a student needs follow-up, not the psychological file.
    head = gateway.get(f"/v1/students/{student_id}/archive", headers=auth("head.teacher"))
    assert head.status_code == 403
    # Enrolment in another county's school is refused by identity itself.
    elsewhere = gateway.post(
        "/v1/students",
        json={
            "student_number": new_student_number(),
            "full_name": "演示学生",
            "school_code": "3607030001",
            "county_code": "360703",
        },
        headers=auth("zhanggong.admin"),
    )
    assert elsewhere.status_code == 403


def test_enrolment_keeps_class_gender_and_only_a_masked_resident_id(
    gateway: httpx.Client,
) -> None:
    # An invented resident ID with a valid GB 11643 check digit.
    first17 = "36070220160229" + "".join(secrets.choice("0123456789") for _ in range(3))
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]
    resident_id = first17 + check
    reply = gateway.post(
        "/v1/students",
        json={
            "student_number": "G" + resident_id,
            "full_name": "演示学生",
            "school_code": SCHOOL,
            "county_code": COUNTY,
            "gender": "female",
            "birth_date": "2016-02-29",
            "resident_id": resident_id,
            "class_code": f"{SCHOOL}-2024-02",
        },
        headers=auth("school.admin"),
    )
    assert reply.status_code == 201, reply.text
    student = reply.json()
    assert (student["class_code"], student["gender"], student["birth_date"]) == (
        f"{SCHOOL}-2024-02",
        "female",
        "2016-02-29",
    )
    assert student["resident_id_masked"] == resident_id[:6] + "********" + resident_id[-4:]
    bad = gateway.post(
        "/v1/students",
        json={
            "student_number": new_student_number(),
            "full_name": "演示学生",
            "school_code": SCHOOL,
            "county_code": COUNTY,
            "resident_id": first17 + ("0" if check != "0" else "1"),
        },
        headers=auth("school.admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "resident_id"]
