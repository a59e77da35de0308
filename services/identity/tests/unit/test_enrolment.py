from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID

import pytest

from identity.domain.model import Enrolment, Student
from identity.domain.use_cases import StudentDirectory
from xinyu_core.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
COUNTY = "360702"
NUMBER = "G360702201501011234"


class FakeStudents:
    def __init__(self) -> None:
        self.rows: dict[UUID, Student] = {}

    async def by_number(self, student_number: str) -> Student | None:
        return next((s for s in self.rows.values() if s.student_number == student_number), None)

    async def by_id(self, student_id: UUID) -> Student | None:
        return self.rows.get(student_id)

    async def add(self, student: Student) -> None:
        self.rows[student.student_id] = student


class FakeEvents:
    def __init__(self) -> None:
        self.enrolled: list[Student] = []

    async def student_enrolled(self, student: Student) -> None:
        self.enrolled.append(student)


class FakeUnit:
    def __init__(self, students: FakeStudents, events: FakeEvents) -> None:
        self.students = students
        self.events = events


World = tuple[StudentDirectory, FakeStudents, FakeEvents]


@pytest.fixture
def world() -> World:
    students, events = FakeStudents(), FakeEvents()

    @asynccontextmanager
    async def units() -> AsyncIterator[FakeUnit]:
        yield FakeUnit(students, events)

    directory = StudentDirectory(units, clock=lambda: datetime(2026, 9, 1, tzinfo=UTC))
    return directory, students, events


def enrolment(**overrides: str) -> Enrolment:
    fields = {
        "student_number": NUMBER,
        "full_name": "测试学生",
        "school_code": SCHOOL,
        "county_code": COUNTY,
    }
    fields.update(overrides)
    return Enrolment(**fields)


async def test_school_admin_enrols_and_an_event_is_recorded(world: World) -> None:
    directory, students, events = world
    student, created = await directory.enrol(
        principal("school_admin", org_unit=SCHOOL), enrolment()
    )
    assert created
    assert students.rows[student.student_id].student_number == NUMBER
    assert events.enrolled == [student]


async def test_enrolling_again_changes_nothing(world: World) -> None:
    directory, students, events = world
    admin = principal("school_admin", org_unit=SCHOOL)
    first, _ = await directory.enrol(admin, enrolment())
    again, created = await directory.enrol(admin, enrolment())
    assert not created
    assert again == first
    assert len(students.rows) == 1
    assert len(events.enrolled) == 1


async def test_same_number_at_another_school_is_refused(world: World) -> None:
    directory, _, _ = world
    await directory.enrol(principal("city_admin", org_unit="360700"), enrolment())
    with pytest.raises(AlreadyExists):
        await directory.enrol(
            principal("city_admin", org_unit="360700"), enrolment(school_code="3607020002")
        )


@pytest.mark.parametrize(
    ("roles", "org_unit"),
    [
        (("school_admin",), "3607020002"),  # another school
        (("county_admin",), "360703"),  # another county
        (("head_teacher",), SCHOOL),  # right school, wrong role
        (("guardian",), SCHOOL),
    ],
)
async def test_enrolment_outside_role_or_scope_is_denied(
    world: World, roles: tuple[str, ...], org_unit: str
) -> None:
    directory, students, _ = world
    with pytest.raises(PermissionDenied):
        await directory.enrol(principal(*roles, org_unit=org_unit), enrolment())
    assert students.rows == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("student_number", "360702201501011234"),
        ("student_number", "G36070220150101123"),
        ("full_name", "  "),
        ("full_name", "名" * 51),
        ("school_code", "36070200"),
        ("county_code", "360801"),
    ],
)
def test_bad_input_names_the_field(field: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        enrolment(**{field: value})
    assert raised.value.field == field


async def test_county_official_reads_own_county_only(world: World) -> None:
    directory, _, _ = world
    student, _ = await directory.enrol(principal("school_admin", org_unit=SCHOOL), enrolment())
    found = await directory.get(principal("county_admin", org_unit=COUNTY), str(student.student_id))
    assert found == student
    with pytest.raises(PermissionDenied):
        await directory.get(principal("county_admin", org_unit="360703"), str(student.student_id))


async def test_get_rejects_malformed_and_unknown_ids(world: World) -> None:
    directory, _, _ = world
    city = principal("city_admin", org_unit="360700")
    with pytest.raises(InvalidArgument):
        await directory.get(city, "not-a-uuid")
    with pytest.raises(NotFound):
        await directory.get(city, "6f1c1f9e-7b5c-4c55-9a43-0c7c1f0b1a11")
