"""In-memory implementations of identity's ports, for unit tests of the use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from uuid import UUID

from identity.domain.model import (
    CITY_CODE,
    Department,
    Person,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    Student,
    StudentEntry,
    Transfer,
)
from identity.domain.ports import CommitteeCount, MenteeCount, PsychTeacherCount


@dataclass
class World:
    students: dict[UUID, Student] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    classes: dict[str, SchoolClass] = field(default_factory=dict)
    people: dict[UUID, Person] = field(default_factory=dict)
    relationships: dict[UUID, Relationship] = field(default_factory=dict)
    # person id → how many times an account sync was requested (the table keeps one row).
    sync_requests: dict[UUID, int] = field(default_factory=dict)
    committee: dict[UUID, tuple[UUID, str, date, date | None]] = field(default_factory=dict)
    enrolled_events: list[Student] = field(default_factory=list)
    transferred_events: list[tuple[Student, Student, Transfer]] = field(default_factory=list)
    # What the use cases asked for, to count queries: units of work opened and repository
    # calls as "students.by_ids", "people.holding_roles", …
    units_opened: int = 0
    calls: list[str] = field(default_factory=list)


class FakeStudents:
    def __init__(self, world: World) -> None:
        self.w = world

    async def by_number(self, student_number: str) -> Student | None:
        return next(
            (s for s in self.w.students.values() if s.student_number == student_number), None
        )

    async def by_id(self, student_id: UUID) -> Student | None:
        return self.w.students.get(student_id)

    async def by_numbers(self, student_numbers: Sequence[str]) -> Mapping[str, Student]:
        return {
            s.student_number: s
            for s in self.w.students.values()
            if s.student_number in student_numbers
        }

    async def by_ids(self, student_ids: Sequence[UUID]) -> Sequence[Student]:
        return [self.w.students[i] for i in dict.fromkeys(student_ids) if i in self.w.students]

    async def by_resident_id_hashes(self, keyed_hashes: Sequence[str]) -> Sequence[Student]:
        found: list[Student] = []
        for keyed_hash in dict.fromkeys(keyed_hashes):
            found += [s for s in self.w.students.values() if s.resident_id_hash == keyed_hash][:2]
        return found

    async def add(self, student: Student) -> None:
        self.w.students[student.student_id] = student

    async def move(self, student: Student, transfer: Transfer, county_code: str) -> Student:
        moved = replace(
            student,
            school_code=transfer.to_school_code,
            county_code=county_code,
            class_code=transfer.to_class_code,
        )
        self.w.students[student.student_id] = moved
        return moved

    async def entries(
        self, *, school_code: str, class_code: str, after: UUID | None, limit: int
    ) -> Sequence[StudentEntry]:
        found = sorted(
            (
                s
                for s in self.w.students.values()
                if s.school_code == school_code
                and (not class_code or s.class_code == class_code)
                and (after is None or s.student_id > after)
            ),
            key=lambda s: s.student_id,
        )
        return [
            StudentEntry(
                s.student_id,
                s.full_name,
                s.school_code,
                s.county_code,
                s.class_code,
                self.w.classes[s.class_code].cohort if s.class_code else 0,
                s.gender,
                s.birth_date,
            )
            for s in found[:limit]
        ]

    async def counts(
        self, *, group_by: str, within: str, cohorts: Sequence[int], school_codes: Sequence[str]
    ) -> Sequence[tuple[str, int]]:
        tally: dict[str, int] = {}
        for s in self.w.students.values():
            parent = s.school_code if group_by == "class_code" else s.county_code
            if within != CITY_CODE and parent != within:
                continue
            if school_codes and s.school_code not in school_codes:
                continue
            if cohorts and (not s.class_code or self.w.classes[s.class_code].cohort not in cohorts):
                continue
            child = getattr(s, group_by) or ""
            tally[child] = tally.get(child, 0) + 1
        return sorted(tally.items())


class FakeOrganisation:
    def __init__(self, world: World) -> None:
        self.w = world

    async def school(self, school_code: str) -> School | None:
        return self.w.schools.get(school_code)

    async def save_school(self, school: School) -> None:
        self.w.schools[school.school_code] = school

    async def schools_in(self, org_unit: str, after: str, limit: int) -> Sequence[School]:
        found = sorted(
            (s for s in self.w.schools.values() if org_unit in (CITY_CODE, s.county_code)),
            key=lambda s: s.school_code,
        )
        return [s for s in found if s.school_code > after][:limit]

    async def department(self, code: str) -> Department | None:
        return self.w.departments.get(code)

    async def add_department(self, department: Department) -> None:
        self.w.departments[department.code] = department

    async def school_class(self, class_code: str) -> SchoolClass | None:
        return self.w.classes.get(class_code)

    async def add_class(self, school_class: SchoolClass) -> None:
        self.w.classes[school_class.class_code] = school_class

    async def unit_exists(self, code: str) -> bool:
        return code in self.w.schools or code in self.w.departments or code in self.w.classes


class FakePeople:
    def __init__(self, world: World) -> None:
        self.w = world

    async def by_username(self, username: str) -> Person | None:
        return next((p for p in self.w.people.values() if p.username == username), None)

    async def by_id(self, person_id: UUID) -> Person | None:
        return self.w.people.get(person_id)

    async def add(self, person: Person) -> None:
        self.w.people[person.person_id] = person

    async def set_roles(self, person_id: UUID, roles: Sequence[str]) -> None:
        self.w.people[person_id] = replace(self.w.people[person_id], roles=tuple(roles))

    async def request_account_sync(self, person_id: UUID) -> None:
        assert person_id in self.w.people, "a sync request names a registered person"
        self.w.sync_requests[person_id] = self.w.sync_requests.get(person_id, 0) + 1

    async def relationship(self, relationship_id: UUID) -> Relationship | None:
        return self.w.relationships.get(relationship_id)

    async def same_relationship(self, relationship: Relationship) -> Relationship | None:
        def key(r: Relationship) -> tuple[object, ...]:
            return (r.person_id, r.kind, r.student_id, r.class_code, r.school_code)

        return next(
            (
                r
                for r in self.w.relationships.values()
                if r.valid_to is None and key(r) == key(relationship)
            ),
            None,
        )

    async def relationships_of(self, person_id: UUID, on: date) -> Sequence[Relationship]:
        return [
            r for r in self.w.relationships.values() if r.person_id == person_id and r.active_on(on)
        ]

    async def add_relationship(self, relationship: Relationship) -> None:
        self.w.relationships[relationship.relationship_id] = relationship

    async def relationships_to(
        self,
        *,
        student_ids: Sequence[UUID],
        class_codes: Sequence[str],
        school_codes: Sequence[str],
        on: date,
    ) -> Sequence[Relationship]:
        return [
            r
            for r in self.w.relationships.values()
            if r.active_on(on)
            and (
                (r.student_id is not None and r.student_id in student_ids)
                or (r.class_code and r.class_code in class_codes)
                or (r.school_code and r.school_code in school_codes)
            )
        ]

    async def by_ids(self, person_ids: Sequence[UUID]) -> Sequence[Person]:
        return [self.w.people[i] for i in person_ids if i in self.w.people]

    async def holding_roles(
        self, home_unit_codes: Sequence[str], roles: Sequence[str]
    ) -> Sequence[Person]:
        return [
            p
            for p in self.w.people.values()
            if p.home_unit_code in home_unit_codes and set(p.roles) & set(roles)
        ]

    async def end_relationship(self, relationship_id: UUID, valid_to: date) -> None:
        self.w.relationships[relationship_id] = replace(
            self.w.relationships[relationship_id], valid_to=valid_to
        )

    async def committee_membership(self, student_id: UUID, on: date) -> UUID | None:
        for membership_id, (member, _, start, end) in self.w.committee.items():
            if member == student_id and start <= on and (end is None or on < end):
                return membership_id
        return None

    async def add_committee_member(
        self, membership_id: UUID, student_id: UUID, class_code: str, valid_from: date
    ) -> None:
        self.w.committee[membership_id] = (student_id, class_code, valid_from, None)


class FakeReports:
    def __init__(self, world: World) -> None:
        self.w = world

    def _in(self, school_code: str, org_unit: str) -> bool:
        school = self.w.schools.get(school_code)
        return school is not None and org_unit in (CITY_CODE, school.county_code, school_code)

    async def committee_counts(self, org_unit: str, on: date) -> Sequence[CommitteeCount]:
        counts = []
        for code, school_class in sorted(self.w.classes.items()):
            if not self._in(school_class.school_code, org_unit):
                continue
            members = [
                self.w.students[s]
                for s, c, start, end in self.w.committee.values()
                if c == code and start <= on and (end is None or on < end)
            ]
            boys = sum(1 for m in members if m.gender and m.gender.value == "male")
            girls = sum(1 for m in members if m.gender and m.gender.value == "female")
            counts.append(CommitteeCount(code, boys, girls))
        return counts

    async def mentee_counts(self, org_unit: str, on: date) -> Sequence[MenteeCount]:
        loads: dict[UUID, int] = {}
        for r in self.w.relationships.values():
            if r.kind is not RelationshipKind.MENTOR_OF or not r.active_on(on) or not r.student_id:
                continue
            if self._in(self.w.students[r.student_id].school_code, org_unit):
                loads[r.person_id] = loads.get(r.person_id, 0) + 1
        return [MenteeCount(p, self.w.people[p].full_name, n) for p, n in sorted(loads.items())]

    async def psych_teacher_counts(self, org_unit: str, on: date) -> Sequence[PsychTeacherCount]:
        result = []
        for code, school in sorted(self.w.schools.items()):
            if not self._in(code, org_unit):
                continue
            teachers = [
                r
                for r in self.w.relationships.values()
                if r.kind is RelationshipKind.PSYCH_TEACHER_OF
                and r.school_code == code
                and r.active_on(on)
            ]
            full = sum(1 for r in teachers if r.full_time)
            result.append(PsychTeacherCount(code, school.enrolment, full, len(teachers) - full))
        return result


class FakeEvents:
    def __init__(self, world: World) -> None:
        self.w = world

    async def student_enrolled(self, student: Student) -> None:
        self.w.enrolled_events.append(student)

    async def student_transferred(
        self, before: Student, after: Student, transfer: Transfer
    ) -> None:
        self.w.transferred_events.append((before, after, transfer))


class _Counted:
    """A repository whose calls are recorded in ``world.calls`` as ``<name>.<method>``."""

    def __init__(self, name: str, inner: object, world: World) -> None:
        self._name, self._inner, self._world = name, inner, world

    def __getattr__(self, attribute: str) -> Any:
        found = getattr(self._inner, attribute)
        if not callable(found):
            return found

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self._world.calls.append(f"{self._name}.{attribute}")
            return found(*args, **kwargs)

        return recorded


class FakeUnit:
    def __init__(self, world: World) -> None:
        self.students: Any = _Counted("students", FakeStudents(world), world)
        self.organisation: Any = _Counted("organisation", FakeOrganisation(world), world)
        self.people: Any = _Counted("people", FakePeople(world), world)
        self.reports: Any = _Counted("reports", FakeReports(world), world)
        self.events: Any = _Counted("events", FakeEvents(world), world)


def units_for(world: World):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def units() -> AsyncIterator[FakeUnit]:
        world.units_opened += 1
        yield FakeUnit(world)

    return units
