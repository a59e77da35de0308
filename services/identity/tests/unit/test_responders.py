"""The warning network's people for a student, level by level, from today's records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.model import (
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
    Student,
)
from identity.domain.responders import ResponderDirectory, ResponderLevel, StudentResponders
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
COUNTY = "360702"
CLASS = SchoolClass.of(SCHOOL, 2024, 1)
OTHER_CLASS = SchoolClass.of(SCHOOL, 2024, 2)
TODAY = date(2026, 10, 1)


def person(username: str, *, home: str = SCHOOL, roles: tuple[str, ...] = ()) -> Person:
    kind = PersonKind.GUARDIAN if username.startswith("guardian") else PersonKind.STAFF
    return Person(uuid4(), kind, username, username, home_unit_code=home, roles=roles)


@pytest.fixture
def world() -> tuple[World, Student]:
    world = World()
    world.schools[SCHOOL] = School(SCHOOL, "一中", COUNTY, SchoolType.JUNIOR)
    for school_class in (CLASS, OTHER_CLASS):
        world.classes[school_class.class_code] = school_class
    student = Student(
        uuid4(), "G1", "学生", SCHOOL, COUNTY, datetime(2026, 9, 1, tzinfo=UTC),
        class_code=CLASS.class_code,
    )  # fmt: skip
    world.students[student.student_id] = student
    return world, student


def relate(world: World, who: Person, kind: RelationshipKind, **target: object) -> None:
    world.people[who.person_id] = who
    ended = target.pop("ended", None)
    relationship = Relationship(
        uuid4(),
        who.person_id,
        kind,
        date(2026, 8, 1),
        valid_to=ended,
        **target,  # type: ignore[arg-type]
    )
    world.relationships[relationship.relationship_id] = relationship


async def test_each_level_has_its_people_and_nobody_else(world: tuple[World, Student]) -> None:
    w, student = world
    relate(w, person("head.one"), RelationshipKind.HEAD_TEACHER_OF, class_code=CLASS.class_code)
    relate(w, person("maths.one"), RelationshipKind.SUBJECT_TEACHER_OF, class_code=CLASS.class_code)
    relate(w, person("mentor.one"), RelationshipKind.MENTOR_OF, student_id=student.student_id)
    relate(w, person("psych.one"), RelationshipKind.PSYCH_TEACHER_OF, school_code=SCHOOL)
    relate(w, person("guardian.one"), RelationshipKind.GUARDIAN_OF, student_id=student.student_id)
    # Not this student's: another class's head teacher, a relationship that ended.
    relate(
        w, person("head.two"), RelationshipKind.HEAD_TEACHER_OF, class_code=OTHER_CLASS.class_code
    )
    relate(
        w,
        person("head.old"),
        RelationshipKind.HEAD_TEACHER_OF,
        class_code=CLASS.class_code,
        ended=date(2026, 9, 1),
    )
    for staff in (
        person("admin.one", roles=("school_admin",)),
        person("counsellor.one", home=COUNTY, roles=("county_counsellor",)),
        person("county.one", home=COUNTY, roles=("county_admin",)),
        person("admin.far", home="3607020002", roles=("school_admin",)),
    ):
        w.people[staff.person_id] = staff
    directory = ResponderDirectory(units_for(w), clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))

    found, responders = await directory.responders(principal("service"), str(student.student_id))

    assert found == student
    assert [(r.level, r.role, r.person.username) for r in responders] == [
        (ResponderLevel.CLASS, "head_teacher", "head.one"),
        (ResponderLevel.CLASS, "subject_teacher", "maths.one"),
        (ResponderLevel.GRADE, "mentor", "mentor.one"),
        (ResponderLevel.SCHOOL, "psych_teacher", "psych.one"),
        (ResponderLevel.SCHOOL, "school_admin", "admin.one"),
        (ResponderLevel.FAMILY, "guardian", "guardian.one"),
        (ResponderLevel.COUNTY, "county_admin", "county.one"),
        (ResponderLevel.COUNTY, "county_counsellor", "counsellor.one"),
    ]


async def test_only_services_ask_and_the_student_must_exist(world: tuple[World, Student]) -> None:
    w, student = world
    directory = ResponderDirectory(units_for(w))
    with pytest.raises(PermissionDenied):
        await directory.responders(
            principal("psych_teacher", org_unit=SCHOOL), str(student.student_id)
        )
    with pytest.raises(NotFound):
        await directory.responders(principal("service"), str(uuid4()))


# Batches (BatchListResponders): the same rules per student, one answer per id in order, one
# unit of work and a fixed number of queries however many students.

OTHER_SCHOOL = "3607030001"
OTHER_COUNTY = "360703"
FAR_CLASS = SchoolClass.of(OTHER_SCHOOL, 2023, 1)


def enrol(world: World, name: str, school_class: SchoolClass, county: str) -> Student:
    student = Student(
        uuid4(), f"G-{name}", name, school_class.school_code, county,
        datetime(2026, 9, 1, tzinfo=UTC), class_code=school_class.class_code,
    )  # fmt: skip
    world.students[student.student_id] = student
    world.classes[school_class.class_code] = school_class
    return student


def roles_of(answer: StudentResponders) -> list[tuple[str, str]]:
    return [(r.role, r.person.username) for r in answer.responders]


async def test_a_batch_answers_each_student_in_order_by_the_same_rules(
    world: tuple[World, Student],
) -> None:
    w, student = world
    classmate = enrol(w, "同学", CLASS, COUNTY)
    neighbour = enrol(w, "邻班", OTHER_CLASS, COUNTY)
    far = enrol(w, "远方", FAR_CLASS, OTHER_COUNTY)
    relate(w, person("head.one"), RelationshipKind.HEAD_TEACHER_OF, class_code=CLASS.class_code)
    relate(
        w, person("head.two"), RelationshipKind.HEAD_TEACHER_OF, class_code=OTHER_CLASS.class_code
    )
    relate(w, person("mentor.one"), RelationshipKind.MENTOR_OF, student_id=student.student_id)
    relate(w, person("guardian.two"), RelationshipKind.GUARDIAN_OF, student_id=classmate.student_id)
    relate(w, person("psych.one"), RelationshipKind.PSYCH_TEACHER_OF, school_code=SCHOOL)
    relate(
        w,
        person("psych.far", home=OTHER_SCHOOL),
        RelationshipKind.PSYCH_TEACHER_OF,
        school_code=OTHER_SCHOOL,
    )
    for staff in (
        person("admin.one", roles=("school_admin",)),
        person("admin.far", home=OTHER_SCHOOL, roles=("school_admin",)),
        person("county.one", home=COUNTY, roles=("county_admin",)),
        person("county.far", home=OTHER_COUNTY, roles=("county_counsellor",)),
    ):
        w.people[staff.person_id] = staff
    directory = ResponderDirectory(units_for(w), clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))
    unknown = uuid4()
    asked = [
        far.student_id, unknown, student.student_id, neighbour.student_id,
        classmate.student_id, student.student_id,
    ]  # fmt: skip

    answers = await directory.responders_of_many(principal("service"), [str(i) for i in asked])

    assert [a.student_id for a in answers] == asked
    assert [a.student for a in answers] == [far, None, student, neighbour, classmate, student]
    assert answers[1].responders == []
    assert roles_of(answers[0]) == [
        ("psych_teacher", "psych.far"), ("school_admin", "admin.far"),
        ("county_counsellor", "county.far"),
    ]  # fmt: skip
    assert roles_of(answers[2]) == [
        ("head_teacher", "head.one"), ("mentor", "mentor.one"), ("psych_teacher", "psych.one"),
        ("school_admin", "admin.one"), ("county_admin", "county.one"),
    ]  # fmt: skip
    assert roles_of(answers[3]) == [
        ("head_teacher", "head.two"), ("psych_teacher", "psych.one"),
        ("school_admin", "admin.one"), ("county_admin", "county.one"),
    ]  # fmt: skip
    assert roles_of(answers[4]) == [
        ("head_teacher", "head.one"), ("psych_teacher", "psych.one"),
        ("school_admin", "admin.one"), ("guardian", "guardian.two"),
        ("county_admin", "county.one"),
    ]  # fmt: skip
    assert answers[5] == answers[2]
    # Each student alone gets what the batch gave them.
    for answer in answers:
        if answer.student is not None:
            alone = await directory.responders(principal("service"), str(answer.student_id))
            assert alone == (answer.student, answer.responders)


async def test_a_batch_costs_the_same_queries_however_many_students(
    world: tuple[World, Student],
) -> None:
    w, _ = world
    classes = [SchoolClass.of(f"36070{c}0001", 2024, 1) for c in (2, 3, 4)]
    many = [enrol(w, f"学生{n}", classes[n % 3], f"36070{n % 3 + 2}") for n in range(150)]
    for school_class in classes:
        relate(
            w,
            person(f"head.{school_class.school_code}"),
            RelationshipKind.HEAD_TEACHER_OF,
            class_code=school_class.class_code,
        )
    directory = ResponderDirectory(units_for(w))

    answers = await directory.responders_of_many(
        principal("service"), [str(s.student_id) for s in many] + [str(uuid4())]
    )

    assert [len(a.responders) for a in answers] == [1] * 150 + [0]
    assert w.units_opened == 1
    assert sorted(w.calls) == [
        "people.by_ids", "people.holding_roles", "people.holding_roles",
        "people.relationships_to", "students.by_ids",
    ]  # fmt: skip


async def test_unknown_students_alone_cost_one_query(world: tuple[World, Student]) -> None:
    w, _ = world
    directory = ResponderDirectory(units_for(w))
    answers = await directory.responders_of_many(principal("service"), [str(uuid4())] * 3)
    assert [(a.student, a.responders) for a in answers] == [(None, [])] * 3
    assert w.calls == ["students.by_ids"]
    assert await directory.responders_of_many(principal("service"), []) == []


async def test_a_batch_is_for_services_of_well_formed_ids_and_at_most_500(
    world: tuple[World, Student],
) -> None:
    w, student = world
    directory = ResponderDirectory(units_for(w))
    with pytest.raises(PermissionDenied):
        await directory.responders_of_many(
            principal("psych_teacher", org_unit=SCHOOL), [str(student.student_id)]
        )
    with pytest.raises(InvalidArgument) as malformed:
        await directory.responders_of_many(
            principal("service"), [str(student.student_id), "not-a-uuid"]
        )
    assert malformed.value.field == "student_ids[1]"
    assert "not-a-uuid" not in malformed.value.message
    ids = [str(student.student_id)] * 500
    assert len(await directory.responders_of_many(principal("service"), ids)) == 500
    with pytest.raises(InvalidArgument) as too_many:
        await directory.responders_of_many(principal("service"), [*ids, str(student.student_id)])
    assert too_many.value.field == "student_ids"
    # The single call keeps its own field name.
    with pytest.raises(InvalidArgument) as single:
        await directory.responders(principal("service"), "not-a-uuid")
    assert single.value.field == "student_id"
