"""What the identity use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from identity.domain.model import (
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


class StudentRepository(Protocol):
    async def by_number(self, student_number: str) -> Student | None: ...

    async def by_id(self, student_id: UUID) -> Student | None: ...

    async def by_numbers(self, student_numbers: Sequence[str]) -> Mapping[str, Student]:
        """The students with these numbers, keyed by the number as asked (absent: none)."""
        ...

    async def by_ids(self, student_ids: Sequence[UUID]) -> Sequence[Student]:
        """The students with these ids that exist, in no particular order."""
        ...

    async def by_resident_id_hashes(self, keyed_hashes: Sequence[str]) -> Sequence[Student]:
        """The students with these resident-ID hashes, at most two per hash: more than one is
        already a conflict."""
        ...

    async def add(self, student: Student) -> None: ...

    async def move(self, student: Student, transfer: Transfer, county_code: str) -> Student: ...

    async def entries(
        self, *, school_code: str, class_code: str, after: UUID | None, limit: int
    ) -> Sequence[StudentEntry]:
        """Enrolled students of a school (and of one class, when given), by id."""
        ...

    async def counts(
        self, *, group_by: str, within: str, cohorts: Sequence[int], school_codes: Sequence[str]
    ) -> Sequence[tuple[str, int]]:
        """Enrolled students per ``group_by`` ("county_code", "school_code" or "class_code")
        under the unit ``within`` (the city, a county or a school code)."""
        ...


class OrganisationRepository(Protocol):
    async def school(self, school_code: str) -> School | None: ...

    async def save_school(self, school: School) -> None:
        """Inserts or updates the school and its place in the tree."""
        ...

    async def schools_in(self, org_unit: str, after: str, limit: int) -> Sequence[School]: ...

    async def department(self, code: str) -> Department | None: ...

    async def add_department(self, department: Department) -> None: ...

    async def school_class(self, class_code: str) -> SchoolClass | None: ...

    async def add_class(self, school_class: SchoolClass) -> None: ...

    async def unit_exists(self, code: str) -> bool: ...


class PeopleRepository(Protocol):
    async def by_username(self, username: str) -> Person | None: ...

    async def by_id(self, person_id: UUID) -> Person | None: ...

    async def add(self, person: Person) -> None: ...

    async def set_roles(self, person_id: UUID, roles: Sequence[str]) -> None: ...

    async def request_account_sync(self, person_id: UUID) -> None:
        """Record (upsert) that the person's Keycloak account must be synced; commits with the
        change that made it necessary, so the account sync worker never misses one."""
        ...

    async def relationship(self, relationship_id: UUID) -> Relationship | None: ...

    async def same_relationship(self, relationship: Relationship) -> Relationship | None:
        """An active relationship of the same person, kind and target, if one exists."""
        ...

    async def relationships_of(self, person_id: UUID, on: date) -> Sequence[Relationship]: ...

    async def add_relationship(self, relationship: Relationship) -> None: ...

    async def end_relationship(self, relationship_id: UUID, valid_to: date) -> None: ...

    async def committee_membership(self, student_id: UUID, on: date) -> UUID | None: ...

    async def relationships_to(
        self,
        *,
        student_ids: Sequence[UUID],
        class_codes: Sequence[str],
        school_codes: Sequence[str],
        on: date,
    ) -> Sequence[Relationship]:
        """Active relationships whose target is one of the students, classes or schools."""
        ...

    async def by_ids(self, person_ids: Sequence[UUID]) -> Sequence[Person]: ...

    async def holding_roles(
        self, home_unit_codes: Sequence[str], roles: Sequence[str]
    ) -> Sequence[Person]:
        """People of these units with any of these explicitly granted roles."""
        ...

    async def add_committee_member(
        self, membership_id: UUID, student_id: UUID, class_code: str, valid_from: date
    ) -> None: ...


@dataclass(frozen=True)
class CommitteeCount:
    class_code: str
    boys: int
    girls: int


@dataclass(frozen=True)
class MenteeCount:
    person_id: UUID
    full_name: str
    mentees: int


@dataclass(frozen=True)
class PsychTeacherCount:
    school_code: str
    enrolment: int
    full_time: int
    part_time: int


class ReportQueries(Protocol):
    """Set-based counts over a scope: a school code, a county code or the city code."""

    async def committee_counts(self, org_unit: str, on: date) -> Sequence[CommitteeCount]: ...

    async def mentee_counts(self, org_unit: str, on: date) -> Sequence[MenteeCount]: ...

    async def psych_teacher_counts(
        self, org_unit: str, on: date
    ) -> Sequence[PsychTeacherCount]: ...


class IdentityEvents(Protocol):
    """Facts identity tells the platform; stored in the same transaction as the change."""

    async def student_enrolled(self, student: Student) -> None: ...

    async def student_transferred(
        self, before: Student, after: Student, transfer: Transfer
    ) -> None: ...


class UnitOfWork(Protocol):
    """One transaction: what the repositories change and what ``events`` records commit
    together."""

    @property
    def students(self) -> StudentRepository: ...

    @property
    def organisation(self) -> OrganisationRepository: ...

    @property
    def people(self) -> PeopleRepository: ...

    @property
    def reports(self) -> ReportQueries: ...

    @property
    def events(self) -> IdentityEvents: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


# Relationship kinds through which a person sees an individual student.
SEEING_KINDS = frozenset(
    {
        RelationshipKind.GUARDIAN_OF,
        RelationshipKind.MENTOR_OF,
        RelationshipKind.HEAD_TEACHER_OF,
        RelationshipKind.SUBJECT_TEACHER_OF,
    }
)
