"""Class lists and head counts: no identifiers in a list, scope and relationships decide who
may ask, pages and counts add up."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.model import (
    Gender,
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
    Student,
)
from identity.domain.student_lists import StudentLists
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
SECOND_SCHOOL = "3607020002"
OTHER_COUNTY_SCHOOL = "3607030001"
COUNTY = "360702"
CLASS = SchoolClass.of(SCHOOL, 2024, 1)
OLDER_CLASS = SchoolClass.of(SCHOOL, 2022, 1)
SECOND_CLASS = SchoolClass.of(SECOND_SCHOOL, 2024, 1)
FAR_CLASS = SchoolClass.of(OTHER_COUNTY_SCHOOL, 2024, 1)


def add_student(world: World, school_class: SchoolClass, county: str = COUNTY) -> Student:
    student = Student(
        student_id=uuid4(),
        student_number=f"G{uuid4().int % 10**17:017d}X",
        full_name="学生",
        school_code=school_class.school_code,
        county_code=county,
        enrolled_at=datetime(2026, 9, 1, tzinfo=UTC),
        gender=Gender.FEMALE,
        birth_date=date(2014, 5, 1),
        class_code=school_class.class_code,
    )
    world.students[student.student_id] = student
    return student


@pytest.fixture
def world() -> World:
    world = World()
    for code, county in (
        (SCHOOL, COUNTY),
        (SECOND_SCHOOL, COUNTY),
        (OTHER_COUNTY_SCHOOL, "360703"),
    ):
        world.schools[code] = School(code, code, county, SchoolType.PRIMARY)
    for school_class in (CLASS, OLDER_CLASS, SECOND_CLASS, FAR_CLASS):
        world.classes[school_class.class_code] = school_class
    for _ in range(5):
        add_student(world, CLASS)
    for _ in range(3):
        add_student(world, OLDER_CLASS)
    for _ in range(2):
        add_student(world, SECOND_CLASS)
    add_student(world, FAR_CLASS, county="360703")
    return world


@pytest.fixture
def lists(world: World) -> StudentLists:
    return StudentLists(units_for(world), clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))


PSYCH = principal("psych_teacher", org_unit=SCHOOL)


async def test_a_class_list_pages_through_every_student_once_without_numbers(
    lists: StudentLists,
) -> None:
    seen: list[UUID] = []
    token = ""
    while True:
        page = await lists.list(PSYCH, CLASS.class_code, 2, token)
        seen += [entry.student_id for entry in page.students]
        assert all(
            entry.cohort == 2024 and entry.class_code == CLASS.class_code for entry in page.students
        )
        assert not any(hasattr(entry, "student_number") for entry in page.students)
        if not (token := page.next_page_token):
            break
    assert len(seen) == len(set(seen)) == 5


async def test_a_school_list_holds_all_its_classes(lists: StudentLists) -> None:
    page = await lists.list(PSYCH, SCHOOL, 0, "")
    assert len(page.students) == 8
    assert page.next_page_token == ""


async def test_only_the_classes_own_teachers_and_the_schools_staff_may_list(
    world: World, lists: StudentLists
) -> None:
    head = principal("head_teacher", org_unit=SCHOOL, username="head.teacher")
    with pytest.raises(PermissionDenied):
        await lists.list(head, CLASS.class_code, 0, "")
    teacher = Person(uuid4(), PersonKind.STAFF, "head.teacher", "班主任", home_unit_code=SCHOOL)
    world.people[teacher.person_id] = teacher
    leads = Relationship(
        uuid4(),
        teacher.person_id,
        RelationshipKind.HEAD_TEACHER_OF,
        date(2026, 8, 1),
        class_code=CLASS.class_code,
    )
    world.relationships[leads.relationship_id] = leads
    assert len((await lists.list(head, CLASS.class_code, 0, "")).students) == 5
    # Leading one class opens neither another class nor the whole school.
    for unit in (OLDER_CLASS.class_code, SCHOOL):
        with pytest.raises(PermissionDenied):
            await lists.list(head, unit, 0, "")
    for outsider in (
        principal("psych_teacher", org_unit=SECOND_SCHOOL),
        principal("county_admin", org_unit="360703"),
        principal("guardian", org_unit=SCHOOL),
    ):
        with pytest.raises(PermissionDenied):
            await lists.list(outsider, CLASS.class_code, 0, "")
    for insider in (principal("county_admin", org_unit=COUNTY), principal("service")):
        assert len((await lists.list(insider, CLASS.class_code, 0, "")).students) == 5


async def test_bad_list_requests_name_the_field(lists: StudentLists) -> None:
    with pytest.raises(InvalidArgument) as empty:
        await lists.list(PSYCH, "", 0, "")
    assert empty.value.field == "org_unit"
    with pytest.raises(InvalidArgument) as big:
        await lists.list(PSYCH, SCHOOL, 5000, "")
    assert big.value.field == "page_size"
    with pytest.raises(InvalidArgument) as token:
        await lists.list(PSYCH, SCHOOL, 0, "not-a-token")
    assert token.value.field == "page_token"
    with pytest.raises(NotFound):
        await lists.list(PSYCH, "9999999999", 0, "")


async def test_head_counts_break_down_by_the_next_level(lists: StudentLists) -> None:
    city = await lists.count(principal("city_admin", org_unit="360700"), "", [], [])
    assert (city.org_unit, city.enrolled) == ("360700", 11)
    assert dict(city.children) == {COUNTY: 10, "360703": 1}
    county = await lists.count(principal("county_admin", org_unit=COUNTY), COUNTY, [2024], [])
    assert dict(county.children) == {SCHOOL: 5, SECOND_SCHOOL: 2}
    school = await lists.count(PSYCH, SCHOOL, [], [])
    assert dict(school.children) == {CLASS.class_code: 5, OLDER_CLASS.class_code: 3}
    only = await lists.count(principal("service"), COUNTY, [], [SECOND_SCHOOL])
    assert only.enrolled == 2


async def test_head_counts_stay_inside_the_callers_scope(lists: StudentLists) -> None:
    with pytest.raises(PermissionDenied):
        await lists.count(principal("county_admin", org_unit="360703"), COUNTY, [], [])
    with pytest.raises(PermissionDenied):
        await lists.count(PSYCH, SECOND_SCHOOL, [], [])
    with pytest.raises(InvalidArgument) as cohort:
        await lists.count(PSYCH, SCHOOL, [24], [])
    assert cohort.value.field == "cohorts"
