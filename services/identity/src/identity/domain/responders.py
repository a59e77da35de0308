"""Who answers for a student in the warning network (R6: class → grade → school → family, and
the county above), resolved from identity's records at the moment alerts asks.

Relationships decide the class, grade and family levels (head and subject teachers of the
student's class, the student's mentors, guardians); the school's psychology teachers come from
their relationship to the school; school and county officials from the roles recorded on
them at that unit. The plan's grade level has no office of its own in identity, so a key
student's mentors (R8) answer there.

One student (``responders``, ListResponders) or a batch (``responders_of_many``, alerts'
batched routing) go through the same rules; a batch costs one unit of work and five queries
however long it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from identity.domain.model import Person, Relationship, RelationshipKind, Student
from identity.domain.ports import UnitOfWorkFactory
from identity.domain.use_cases import parse_uuid
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, NotFound


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
MAX_BATCH = 500


@dataclass(frozen=True)
class StudentResponders:
    """One student's answer in a batch: ``student`` is None when identity knows no such id."""

    student_id: UUID
    student: Student | None
    responders: list[Responder]


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
        (answer,) = await self._resolve([parse_uuid(student_id, "student_id")])
        if answer.student is None:
            raise NotFound("no such student")
        return answer.student, answer.responders

    async def responders_of_many(
        self, principal: Principal, student_ids: Sequence[str]
    ) -> list[StudentResponders]:
        """answers[i] answers student_ids[i], found or not."""
        principal.require_any_role("service")
        if len(student_ids) > MAX_BATCH:
            raise InvalidArgument("student_ids", f"at most {MAX_BATCH} ids a call")
        wanted = [parse_uuid(value, f"student_ids[{i}]") for i, value in enumerate(student_ids)]
        return await self._resolve(wanted)

    async def _resolve(self, wanted: Sequence[UUID]) -> list[StudentResponders]:
        """One unit of work and five queries however many students: the students, every active
        relationship to them, their classes or their schools, the people related, and the
        school and county officials of all their schools and counties."""
        if not wanted:
            return []
        async with self._units() as unit:
            students = {s.student_id: s for s in await unit.students.by_ids(sorted(set(wanted)))}
            known = sorted(students.values(), key=lambda s: s.student_id)
            related: Sequence[Relationship] = []
            people: dict[UUID, Person] = {}
            school_staff: Sequence[Person] = []
            county_staff: Sequence[Person] = []
            if known:
                related = await unit.people.relationships_to(
                    student_ids=[s.student_id for s in known],
                    class_codes=_codes(s.class_code for s in known),
                    school_codes=_codes(s.school_code for s in known),
                    on=self._clock().date(),
                )
                people = {p.person_id: p for p in await unit.people.by_ids(_ids(related))}
                school_staff = await unit.people.holding_roles(
                    _codes(s.school_code for s in known), _SCHOOL_ROLES
                )
                county_staff = await unit.people.holding_roles(
                    _codes(s.county_code for s in known), _COUNTY_ROLES
                )
        at_school, at_county = _by_unit(school_staff), _by_unit(county_staff)
        to_student: dict[UUID, list[Relationship]] = {}
        to_class: dict[str, list[Relationship]] = {}
        to_school: dict[str, list[Relationship]] = {}
        for relationship in related:
            if relationship.student_id is not None:
                to_student.setdefault(relationship.student_id, []).append(relationship)
            if relationship.class_code:
                to_class.setdefault(relationship.class_code, []).append(relationship)
            if relationship.school_code:
                to_school.setdefault(relationship.school_code, []).append(relationship)
        ranked: dict[UUID, list[Responder]] = {}
        for student in known:
            # The relationship's target is the student, their class or their school (one
            # naming more than one of them is counted once by _rank).
            mine = [
                *to_student.get(student.student_id, []),
                *(to_class.get(student.class_code, []) if student.class_code else []),
                *(to_school.get(student.school_code, []) if student.school_code else []),
            ]
            ranked[student.student_id] = _rank(
                mine,
                people,
                at_school.get(student.school_code, []),
                at_county.get(student.county_code, []),
            )
        return [StudentResponders(i, students.get(i), ranked.get(i, [])) for i in wanted]


def _rank(
    related: Sequence[Relationship],
    people: Mapping[UUID, Person],
    school_staff: Sequence[Person],
    county_staff: Sequence[Person],
) -> list[Responder]:
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
    return sorted(found.values(), key=lambda r: (order.index(r.level), r.role, r.person.username))


def _by_unit(staff: Sequence[Person]) -> dict[str, list[Person]]:
    grouped: dict[str, list[Person]] = {}
    for person in staff:
        grouped.setdefault(person.home_unit_code, []).append(person)
    return grouped


def _codes(codes: Iterable[str]) -> list[str]:
    return sorted({code for code in codes if code})


def _ids(related: Sequence[Relationship]) -> list[UUID]:
    return sorted({r.person_id for r in related})
