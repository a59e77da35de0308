from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.model import (
    Enrolment,
    Gender,
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
    Transfer,
    TransferKind,
)
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.use_cases import StudentDirectory
from xinyu_core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from xinyu_core.testing import principal

SCHOOL = "3607020001"
OTHER_SCHOOL = "3607030001"
COUNTY = "360702"
NUMBER = "G360702201501011234"
RESIDENT_ID = "36070220150101123" + check_character("36070220150101123")
CLASS = SchoolClass.of(SCHOOL, 2024, 3)


@pytest.fixture
def world() -> World:
    world = World()
    world.schools[SCHOOL] = School(SCHOOL, "章贡区示范小学", COUNTY, SchoolType.PRIMARY, 900)
    world.schools[OTHER_SCHOOL] = School(
        OTHER_SCHOOL, "南康区示范小学", "360703", SchoolType.PRIMARY
    )
    world.classes[CLASS.class_code] = CLASS
    return world


@pytest.fixture
def directory(world: World) -> StudentDirectory:
    return StudentDirectory(
        units_for(world),
        ResidentIdProtector(b"unit-test-key-0123456789"),
        clock=lambda: datetime(2026, 9, 1, tzinfo=UTC),
    )


def enrolment(**overrides: object) -> Enrolment:
    fields: dict[str, object] = {
        "student_number": NUMBER,
        "full_name": "测试学生",
        "school_code": SCHOOL,
        "county_code": COUNTY,
        "gender": Gender.FEMALE,
        "birth_date": date(2015, 1, 1),
        "resident_id": RESIDENT_ID,
        "class_code": CLASS.class_code,
    }
    fields.update(overrides)
    return Enrolment(**fields)  # type: ignore[arg-type]


ADMIN = principal("school_admin", org_unit=SCHOOL)


async def test_school_admin_enrols_and_an_event_is_recorded(
    world: World, directory: StudentDirectory
) -> None:
    student, created = await directory.enrol(ADMIN, enrolment())
    assert created
    assert world.students[student.student_id].student_number == NUMBER
    assert world.enrolled_events == [student]


async def test_resident_id_is_kept_only_hashed_and_masked(directory: StudentDirectory) -> None:
    student, _ = await directory.enrol(ADMIN, enrolment())
    assert RESIDENT_ID not in repr(student)
    assert student.resident_id_masked == RESIDENT_ID[:6] + "********" + RESIDENT_ID[-4:]
    assert len(student.resident_id_hash) == 64


async def test_enrolling_again_changes_nothing(world: World, directory: StudentDirectory) -> None:
    first, _ = await directory.enrol(ADMIN, enrolment())
    again, created = await directory.enrol(ADMIN, enrolment())
    assert not created
    assert again == first
    assert len(world.students) == 1
    assert len(world.enrolled_events) == 1


async def test_same_number_at_another_school_is_refused(directory: StudentDirectory) -> None:
    city = principal("city_admin", org_unit="360700")
    await directory.enrol(city, enrolment())
    with pytest.raises(AlreadyExists):
        await directory.enrol(
            city,
            enrolment(school_code=OTHER_SCHOOL, county_code="360703", class_code=""),
        )


async def test_unknown_school_and_class_are_named(directory: StudentDirectory) -> None:
    city = principal("city_admin", org_unit="360700")
    with pytest.raises(InvalidArgument) as unknown_school:
        await directory.enrol(city, enrolment(school_code="3607020099", class_code=""))
    assert unknown_school.value.field == "school_code"
    with pytest.raises(InvalidArgument) as unknown_class:
        await directory.enrol(city, enrolment(class_code=f"{SCHOOL}-2024-09"))
    assert unknown_class.value.field == "class_code"


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
    world: World, directory: StudentDirectory, roles: tuple[str, ...], org_unit: str
) -> None:
    with pytest.raises(PermissionDenied):
        await directory.enrol(principal(*roles, org_unit=org_unit), enrolment())
    assert world.students == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("student_number", "360702201501011234"),
        ("student_number", "G36070220150101123"),
        ("full_name", "  "),
        ("full_name", "名" * 51),
        ("school_code", "36070200"),
        ("county_code", "360801"),
        ("county_code", "360700"),
        ("class_code", "3607020002-2024-01"),
    ],
)
def test_bad_input_names_the_field(field: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        enrolment(**{field: value})
    assert raised.value.field == field


async def test_bad_resident_id_is_refused_by_field(directory: StudentDirectory) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await directory.enrol(ADMIN, enrolment(resident_id=RESIDENT_ID[:17] + "0"))
    assert raised.value.field == "resident_id"


async def test_county_official_reads_own_county_only(directory: StudentDirectory) -> None:
    student, _ = await directory.enrol(ADMIN, enrolment())
    found = await directory.get(principal("county_admin", org_unit=COUNTY), str(student.student_id))
    assert found == student
    with pytest.raises(PermissionDenied):
        await directory.get(principal("county_admin", org_unit="360703"), str(student.student_id))


async def test_head_teacher_sees_only_their_classes_and_guardian_only_their_child(
    world: World, directory: StudentDirectory
) -> None:
    student, _ = await directory.enrol(ADMIN, enrolment())
    teacher = Person(uuid4(), PersonKind.STAFF, "head.teacher", "班主任", home_unit_code=SCHOOL)
    parent = Person(uuid4(), PersonKind.GUARDIAN, "guardian.demo", "家长")
    world.people.update({teacher.person_id: teacher, parent.person_id: parent})
    head = principal("head_teacher", org_unit=SCHOOL, username="head.teacher")
    guardian = principal("guardian", org_unit=SCHOOL, username="guardian.demo")
    for caller in (head, guardian):
        with pytest.raises(PermissionDenied):
            await directory.get(caller, str(student.student_id))
    for relationship in (
        Relationship(
            uuid4(),
            teacher.person_id,
            RelationshipKind.HEAD_TEACHER_OF,
            date(2026, 8, 1),
            class_code=CLASS.class_code,
        ),
        Relationship(
            uuid4(),
            parent.person_id,
            RelationshipKind.GUARDIAN_OF,
            date(2026, 8, 1),
            student_id=student.student_id,
        ),
    ):
        world.relationships[relationship.relationship_id] = relationship
    assert await directory.get(head, str(student.student_id)) == student
    assert await directory.get(guardian, str(student.student_id)) == student
    # A relationship that ended no longer opens the record.
    ended = next(r for r in world.relationships.values() if r.person_id == teacher.person_id)
    world.relationships[ended.relationship_id] = Relationship(
        ended.relationship_id,
        ended.person_id,
        ended.kind,
        ended.valid_from,
        class_code=ended.class_code,
        valid_to=date(2026, 8, 31),
    )
    with pytest.raises(PermissionDenied):
        await directory.get(head, str(student.student_id))


async def test_get_rejects_malformed_and_unknown_ids(directory: StudentDirectory) -> None:
    city = principal("city_admin", org_unit="360700")
    with pytest.raises(InvalidArgument):
        await directory.get(city, "not-a-uuid")
    with pytest.raises(NotFound):
        await directory.get(city, "6f1c1f9e-7b5c-4c55-9a43-0c7c1f0b1a11")


async def test_transfer_moves_the_student_and_announces_it(
    world: World, directory: StudentDirectory
) -> None:
    student, _ = await directory.enrol(ADMIN, enrolment())
    move = Transfer(student.student_id, OTHER_SCHOOL, TransferKind.TRANSFER, date(2026, 9, 15))
    with pytest.raises(PermissionDenied):
        await directory.transfer(principal("school_admin", org_unit="3607020002"), move)
    moved = await directory.transfer(ADMIN, move)
    assert (moved.school_code, moved.county_code, moved.class_code) == (OTHER_SCHOOL, "360703", "")
    assert world.transferred_events == [(student, moved, move)]
    with pytest.raises(FailedPrecondition):
        await directory.transfer(principal("city_admin", org_unit="360700"), move)
