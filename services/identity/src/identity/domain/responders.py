"""Who answers for a student in the warning network (R6: class → grade → school → family, and
the county above), resolved from identity's records at the moment alerts asks.

Relationships decide the class, grade and family levels (head and subject teachers of the
student's class, the student's mentors, guardians); the school's psychology teachers come from
their relationship to the school; school and county officials from the roles recorded on
them at that unit. The plan's grade level has no office of its own in identity, so a key
student's mentors (R8) answer there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from identity.domain.model import Person, Relationship, RelationshipKind, Student
from identity.domain.ports import UnitOfWorkFactory
from identity.domain.use_cases import parse_uuid
from xinyu_core.auth import Principal
from xinyu_core.errors import NotFound


class ResponderLevel(StrEnum):
    CLASS = "class"
    GRADE = "grade"
    SCHOOL = "school"
    FAMILY = "family"
    COUNTY = "county"


@dataclass(frozen=True)
class Responder:
    person: Person
    level: ResponderLevel
    role: str


# Relationship kind → (level, role).
_BY_RELATIONSHIP = {
    RelationshipKind.HEAD_TEACHER_OF: (ResponderLevel.CLASS, "head_teacher"),
    RelationshipKind.SUBJECT_TEACHER_OF: (ResponderLevel.CLASS, "subject_teacher"),
    RelationshipKind.MENTOR_OF: (ResponderLevel.GRADE, "mentor"),
    RelationshipKind.PSYCH_TEACHER_OF: (ResponderLevel.SCHOOL, "psych_teacher"),
    RelationshipKind.GUARDIAN_OF: (ResponderLevel.FAMILY, "guardian"),
}
_SCHOOL_ROLES = ("school_admin",)
_COUNTY_ROLES = ("county_counsellor", "county_admin")


class ResponderDirectory:
    def __init__(
        self, units: UnitOfWorkFactory, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._units = units
        self._clock = clock

    async def responders(
        self, principal: Principal, student_id: str
    ) -> tuple[Student, list[Responder]]:
        principal.require_any_role("service")
        wanted = parse_uuid(student_id, "student_id")
        async with self._units() as unit:
            student = await unit.students.by_id(wanted)
            if student is None:
                raise NotFound("no such student")
            related = await unit.people.relationships_to(
                student_id=student.student_id,
                class_code=student.class_code,
                school_code=student.school_code,
                on=self._clock().date(),
            )
            people = {p.person_id: p for p in await unit.people.by_ids(_ids(related))}
            school_staff = await unit.people.holding_roles(student.school_code, _SCHOOL_ROLES)
            county_staff = await unit.people.holding_roles(student.county_code, _COUNTY_ROLES)
        found: dict[tuple[UUID, str], Responder] = {}
        for relationship in related:
            level, role = _BY_RELATIONSHIP[relationship.kind]
            person = people.get(relationship.person_id)
            if person is not None:
                found.setdefault((person.person_id, role), Responder(person, level, role))
        for staff, roles, level in (
            (school_staff, _SCHOOL_ROLES, ResponderLevel.SCHOOL),
            (county_staff, _COUNTY_ROLES, ResponderLevel.COUNTY),
        ):
            for person in staff:
                for role in roles:
                    if role in person.roles:
                        found.setdefault((person.person_id, role), Responder(person, level, role))
        order = list(ResponderLevel)
        ranked = sorted(
            found.values(), key=lambda r: (order.index(r.level), r.role, r.person.username)
        )
        return student, ranked


def _ids(related: Sequence[Relationship]) -> list[UUID]:
    return sorted({r.person_id for r in related})
