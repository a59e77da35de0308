"""A school uploads its roster through the gateway (CSV from the student registry): the import
validates, applies and reports progress; a bad file applies nothing and names row and field;
another county's official cannot import into this school."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from xinyu_e2e import GATEWAY_URL, IDENTITY_DATABASE, auth
from xinyu_e2e.seed import DEMO_SCHOOL, DemoWorld, ensure_demo_world

pytestmark = pytest.mark.e2e

HEADER = "学籍号,姓名,性别,出生日期,学校标识码,入学年份,班级\n"


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[httpx.Client, DemoWorld]]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as client:
        yield client, ensure_demo_world(client)


def invented_number() -> str:
    return "G3607022016" + "".join(secrets.choice("0123456789") for _ in range(7)) + "X"


def upload(client: httpx.Client, user: str, text: str) -> httpx.Response:
    return client.post(
        "/v1/rosters",
        files={"file": ("roster.csv", text.encode("utf-8"), "text/csv")},
        data={"scope_code": DEMO_SCHOOL},
        headers=auth(user),
    )


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(
            f"/v1/rosters/{job_id}", headers=auth("school.admin")
        ).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError("the import never finished")


def test_a_roster_imports_once_and_again_changes_nothing(
    world: tuple[httpx.Client, DemoWorld],
) -> None:
    client, _ = world
    rows = "".join(
        f"{invented_number()},演示学生{i},{gender},2016-03-0{i},{DEMO_SCHOOL},2024,1\n"
        for i, gender in ((1, "男"), (2, "女"), (3, "男"))
    )
    accepted = upload(client, "school.admin", HEADER + rows)
    assert accepted.status_code == 202, accepted.text
    job = finished(client, accepted.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["rows_created"] == 3
    assert job["progress_percent"] == 100
    again = finished(client, upload(client, "school.admin", HEADER + rows).json()["job_id"])
    assert (again["status"], again["rows_created"], again["rows_unchanged"]) == ("succeeded", 0, 3)


def test_imported_students_get_their_files_through_the_batched_event(
    world: tuple[httpx.Client, DemoWorld],
) -> None:
    """identity.students.enrolled.v1 from the import → Kafka → archives opens every file."""
    client, _ = world
    marker = secrets.token_hex(4)
    rows = "".join(
        f"{invented_number()},批次{marker}{i},女,2016-05-0{i},{DEMO_SCHOOL},2024,1\n"
        for i in range(1, 5)
    )
    job = finished(client, upload(client, "school.admin", HEADER + rows).json()["job_id"])
    assert (job["status"], job["rows_created"]) == ("succeeded", 4), job
    with psycopg.connect(IDENTITY_DATABASE) as connection:
        student_ids = [
            str(row[0])
            for row in connection.execute(
                "SELECT student_id FROM students WHERE full_name LIKE %s",
                (f"批次{marker}%",),
            )
        ]
    assert len(student_ids) == 4
    deadline = time.monotonic() + 30
    waiting = set(student_ids)
    while waiting and time.monotonic() < deadline:
        for student_id in sorted(waiting):
            archive = client.get(
                f"/v1/students/{student_id}/archive", headers=auth("psych.teacher")
            )
            if archive.status_code == 200:
                assert archive.json()["school_code"] == DEMO_SCHOOL
                waiting.discard(student_id)
        time.sleep(0.3)
    assert not waiting, f"{len(waiting)} of 4 imported students have no file"


def test_a_bad_row_applies_nothing_and_is_named(world: tuple[httpx.Client, DemoWorld]) -> None:
    client, _ = world
    good = f"{invented_number()},好学生,女,2016-01-01,{DEMO_SCHOOL},2024,1\n"
    bad = f"NOT-A-NUMBER,坏学生,女,2016-01-01,{DEMO_SCHOOL},2024,1\n"
    job = finished(client, upload(client, "school.admin", HEADER + good + bad).json()["job_id"])
    assert job["status"] == "failed"
    assert job["rows_created"] == 0
    assert {"row": 3, "field": "student_number"}.items() <= job["errors"][0].items()
    assert "NOT-A-NUMBER" not in str(job)


def test_another_county_cannot_import_into_this_school(
    world: tuple[httpx.Client, DemoWorld],
) -> None:
    client, _ = world
    refused = upload(client, "nankang.admin", HEADER)
    assert refused.status_code == 403
