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
from identity.domain.responders import ResponderDirectory, ResponderLevel
from xinyu_core.errors import NotFound, PermissionDenied
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
