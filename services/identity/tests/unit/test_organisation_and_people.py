from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.model import (
    Department,
    DepartmentType,
    Gender,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
    Student,
)
from identity.domain.organisation import Organisation
from identity.domain.people import People
from identity.domain.policy import OrganisationPolicy
from identity.domain.reports import Reports
from xinyu_core.errors import AlreadyExists, InvalidArgument, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
COUNTY = "360702"
CITY = principal("city_admin", org_unit="360700")
COUNTY_ADMIN = principal("county_admin", org_unit=COUNTY)
SCHOOL_ADMIN = principal("school_admin", org_unit=SCHOOL)
TODAY = datetime(2026, 10, 1, tzinfo=UTC)


def school(code: str = SCHOOL, county: str = COUNTY, enrolment: int = 900) -> School:
    return School(code, "示范学校", county, SchoolType.NINE_YEAR, enrolment, True, True, True)


@pytest.fixture
def world() -> World:
    return World()


async def test_county_registers_its_schools_only(world: World) -> None:
    organisation = Organisation(units_for(world))
    registered, created = await organisation.register_school(COUNTY_ADMIN, school())
    assert created
    assert registered.has_counselling_station
    _, again = await organisation.register_school(COUNTY_ADMIN, school())
    assert not again
    with pytest.raises(PermissionDenied):
        await organisation.register_school(COUNTY_ADMIN, school("3607030001", "360703"))
    with pytest.raises(PermissionDenied):
        await organisation.register_school(SCHOOL_ADMIN, school())


async def test_schools_are_listed_by_county_with_pages(world: World) -> None:
    organisation = Organisation(units_for(world))
    for n in range(1, 6):
        await organisation.register_school(CITY, school(f"36070200{n:02d}"))
    await organisation.register_school(CITY, school("3607030001", "360703"))
    first, token = await organisation.list_schools(COUNTY_ADMIN, COUNTY, 3, "")
    rest, last = await organisation.list_schools(COUNTY_ADMIN, COUNTY, 3, token)
    assert [s.school_code for s in (*first, *rest)] == [f"36070200{n:02d}" for n in range(1, 6)]
    assert last == ""
    everything, _ = await organisation.list_schools(CITY, "360700", 100, "")
    assert len(everything) == 6
    with pytest.raises(PermissionDenied):
        await organisation.list_schools(COUNTY_ADMIN, "360703", 10, "")


async def test_departments_and_classes(world: World) -> None:
    organisation = Organisation(units_for(world))
    police = Department("police-360702", "章贡公安分局", DepartmentType.POLICE, COUNTY)
    assert (await organisation.register_department(COUNTY_ADMIN, police))[1]
    with pytest.raises(InvalidArgument) as bad:
        Department("Police 1", "x", DepartmentType.POLICE, COUNTY)
    assert bad.value.field == "code"
    await organisation.register_school(CITY, school())
    created, new = await organisation.create_class(SCHOOL_ADMIN, SCHOOL, 2024, 3)
    assert new
    assert (created.class_code, created.name) == (f"{SCHOOL}-2024-03", "2024级3班")
    with pytest.raises(InvalidArgument) as bad_cohort:
        await organisation.create_class(SCHOOL_ADMIN, SCHOOL, 1800, 1)
    assert bad_cohort.value.field == "cohort"


def add_student(world: World, gender: Gender, class_code: str) -> Student:
    student = Student(
        uuid4(),
        f"G{uuid4().int % 10**18:018d}",
        "学生",
        SCHOOL,
        COUNTY,
        TODAY,
        gender,
        None,
        "",
        "",
        class_code,
    )
    world.students[student.student_id] = student
    return student


async def test_relationships_are_scoped_idempotent_and_end(world: World) -> None:
    world.schools[SCHOOL] = school()
    school_class = SchoolClass.of(SCHOOL, 2024, 1)
    world.classes[school_class.class_code] = school_class
    people = People(units_for(world), clock=lambda: TODAY)
    teacher, _ = await people.register(
        SCHOOL_ADMIN, PersonKind.STAFF, "li.teacher", "李老师", Gender.FEMALE, SCHOOL
    )
    with pytest.raises(AlreadyExists):
        await people.register(SCHOOL_ADMIN, PersonKind.GUARDIAN, "li.teacher", "李老师")
    with pytest.raises(PermissionDenied):
        await people.register(
            principal("school_admin", org_unit="3607020002"),
            PersonKind.STAFF,
            "wang.teacher",
            "王老师",
            home_unit_code=SCHOOL,
        )
    lead = Relationship(
        UUID(int=0),
        teacher.person_id,
        RelationshipKind.HEAD_TEACHER_OF,
        date(2026, 9, 1),
        class_code=school_class.class_code,
    )
    first, created = await people.assign(SCHOOL_ADMIN, lead)
    again, created_again = await people.assign(SCHOOL_ADMIN, lead)
    assert (created, created_again, again) == (True, False, first)
    guardianship = Relationship(
        UUID(int=0),
        teacher.person_id,
        RelationshipKind.GUARDIAN_OF,
        date(2026, 9, 1),
        student_id=add_student(world, Gender.MALE, school_class.class_code).student_id,
    )
    with pytest.raises(InvalidArgument) as wrong_kind:
        await people.assign(SCHOOL_ADMIN, guardianship)
    assert wrong_kind.value.field == "kind"
    me = await people.who_am_i(principal("head_teacher", org_unit=SCHOOL, username="li.teacher"))
    assert me.person == teacher
    assert [r.kind for r in me.relationships] == [RelationshipKind.HEAD_TEACHER_OF]
    ended = await people.end(SCHOOL_ADMIN, str(first.relationship_id), date(2026, 9, 30))
    assert ended.valid_to == date(2026, 9, 30)
    assert (
        await people.who_am_i(principal("head_teacher", username="li.teacher"))
    ).relationships == []


async def test_head_teacher_appoints_the_committee_of_their_class_only(world: World) -> None:
    world.schools[SCHOOL] = school()
    mine, other = SchoolClass.of(SCHOOL, 2024, 1), SchoolClass.of(SCHOOL, 2024, 2)
    world.classes.update({mine.class_code: mine, other.class_code: other})
    people = People(units_for(world), clock=lambda: TODAY)
    teacher, _ = await people.register(
        SCHOOL_ADMIN, PersonKind.STAFF, "head.teacher", "班主任", None, SCHOOL
    )
    await people.assign(
        SCHOOL_ADMIN,
        Relationship(
            UUID(int=0),
            teacher.person_id,
            RelationshipKind.HEAD_TEACHER_OF,
            date(2026, 9, 1),
            class_code=mine.class_code,
        ),
    )
    head = principal("head_teacher", org_unit=SCHOOL, username="head.teacher")
    member = add_student(world, Gender.FEMALE, mine.class_code)
    _, created = await people.add_committee_member(head, member.student_id, date(2026, 9, 1))
    assert created
    _, again = await people.add_committee_member(head, member.student_id, date(2026, 9, 1))
    assert not again
    with pytest.raises(PermissionDenied):
        await people.add_committee_member(
            head, add_student(world, Gender.MALE, other.class_code).student_id, date(2026, 9, 1)
        )


async def test_reports_follow_the_policy(world: World) -> None:
    world.schools[SCHOOL] = school(enrolment=1700)
    world.schools["3607020002"] = school("3607020002", enrolment=300)
    balanced, lopsided = SchoolClass.of(SCHOOL, 2024, 1), SchoolClass.of(SCHOOL, 2024, 2)
    world.classes.update({balanced.class_code: balanced, lopsided.class_code: lopsided})
    people = People(units_for(world), clock=lambda: TODAY)
    for gender in (Gender.MALE, Gender.MALE, Gender.FEMALE, Gender.FEMALE):
        await people.add_committee_member(
            SCHOOL_ADMIN,
            add_student(world, gender, balanced.class_code).student_id,
            date(2026, 9, 1),
        )
    for gender in (Gender.FEMALE, Gender.FEMALE, Gender.FEMALE):
        await people.add_committee_member(
            SCHOOL_ADMIN,
            add_student(world, gender, lopsided.class_code).student_id,
            date(2026, 9, 1),
        )
    mentor, _ = await people.register(
        SCHOOL_ADMIN, PersonKind.STAFF, "mentor.one", "导师", None, SCHOOL
    )
    for _ in range(3):
        await people.assign(
            SCHOOL_ADMIN,
            Relationship(
                UUID(int=0),
                mentor.person_id,
                RelationshipKind.MENTOR_OF,
                date(2026, 9, 1),
                student_id=add_student(world, Gender.MALE, balanced.class_code).student_id,
            ),
        )
    psych, _ = await people.register(
        SCHOOL_ADMIN, PersonKind.STAFF, "psych.one", "心理老师", None, SCHOOL
    )
    await people.assign(
        SCHOOL_ADMIN,
        Relationship(
            UUID(int=0),
            psych.person_id,
            RelationshipKind.PSYCH_TEACHER_OF,
            date(2026, 9, 1),
            school_code=SCHOOL,
            full_time=True,
        ),
    )

    reports = Reports(units_for(world), OrganisationPolicy(), clock=lambda: TODAY)
    committees = await reports.committees(COUNTY_ADMIN, COUNTY)
    assert committees.classes_checked == 2
    assert [(c.class_code, c.boys, c.girls) for c in committees.deviating] == [
        (lopsided.class_code, 0, 3)
    ]
    load = await reports.mentor_load(SCHOOL_ADMIN, SCHOOL)
    assert [(m.person_id, m.mentees) for m in load.overloaded] == [(mentor.person_id, 3)]
    coverage = await reports.psych_teacher_coverage(COUNTY_ADMIN, COUNTY)
    by_school = {s.school_code: s for s in coverage.schools}
    assert by_school[SCHOOL].full_time_wanted == 3
    assert not by_school[SCHOOL].meets_ratio
    assert by_school["3607020002"].full_time_wanted == 1
    assert not by_school["3607020002"].needs_full_time  # 300 students: a part-timer may do
    assert coverage.coverage == 0.0
    # Policy is configuration, not code: a looser ratio changes the verdict.
    loose = Reports(
        units_for(world), OrganisationPolicy(students_per_psych_teacher=2000), clock=lambda: TODAY
    )
    assert (await loose.psych_teacher_coverage(CITY, SCHOOL)).schools[0].meets_ratio
    with pytest.raises(PermissionDenied):
        await reports.committees(principal("county_admin", org_unit="360703"), COUNTY)
    with pytest.raises(PermissionDenied):
        await reports.committees(principal("head_teacher", org_unit=SCHOOL), SCHOOL)
