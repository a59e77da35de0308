"""Students: enrolment, look-up and moves between schools."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from identity.domain.access import can_see_student
from identity.domain.model import Enrolment, Relationship, Student, Transfer
from identity.domain.ports import UnitOfWork, UnitOfWorkFactory
from identity.domain.resident_id import ResidentIdProtector
from xinyu_core.auth import Principal
from xinyu_core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from xinyu_core.scope import can_see_school, require_school_scope

ENROLLING_ROLES = ("school_admin", "county_admin", "city_admin", "service")
TRANSFERRING_ROLES = ENROLLING_ROLES


def parse_uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as error:
        raise InvalidArgument(field, "must be a UUID") from error


async def caller_relationships(
    unit: UnitOfWork, principal: Principal, today: date
) -> list[Relationship]:
    """The caller's active relationships, if identity knows them as a person."""
    person = await unit.people.by_username(principal.username) if principal.username else None
    if person is None:
        return []
    return list(await unit.people.relationships_of(person.person_id, today))


class StudentDirectory:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        protector: ResidentIdProtector,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._units = units
        self._protector = protector
        self._clock = clock
        self._new_id = new_id

    async def enrol(self, principal: Principal, enrolment: Enrolment) -> tuple[Student, bool]:
        """Enrols a student; returns the student and whether anything was created.

        Enrolling the same student number at the same school again is a no-op, so a school
        can resend a roster safely. The same number at another school is a transfer, which
        is not an enrolment and is refused here.
        """
        principal.require_any_role(*ENROLLING_ROLES)
        require_school_scope(
            principal, school_code=enrolment.school_code, county_code=enrolment.county_code
        )
        protected = (
            self._protector.protect(enrolment.resident_id) if enrolment.resident_id else None
        )
        async with self._units() as unit:
            school = await unit.organisation.school(enrolment.school_code)
            if school is None:
                raise InvalidArgument("school_code", "no such school is registered")
            if school.county_code != enrolment.county_code:
                raise InvalidArgument("county_code", "is not the school's county")
            if (
                enrolment.class_code
                and await unit.organisation.school_class(enrolment.class_code) is None
            ):
                raise InvalidArgument("class_code", "no such class at this school")
            existing = await unit.students.by_number(enrolment.student_number)
            if existing is not None:
                if existing.school_code != enrolment.school_code:
                    raise AlreadyExists("student_number is enrolled at another school")
                return existing, False
            student = Student(
                student_id=self._new_id(),
                student_number=enrolment.student_number,
                full_name=enrolment.full_name.strip(),
                school_code=enrolment.school_code,
                county_code=enrolment.county_code,
                enrolled_at=self._clock(),
                gender=enrolment.gender,
                birth_date=enrolment.birth_date,
                resident_id_hash=protected.keyed_hash if protected else "",
                resident_id_masked=protected.masked if protected else "",
                class_code=enrolment.class_code,
            )
            await unit.students.add(student)
            await unit.events.student_enrolled(student)
            return student, True

    async def get(self, principal: Principal, student_id: str) -> Student:
        wanted = parse_uuid(student_id, "student_id")
        async with self._units() as unit:
            student = await unit.students.by_id(wanted)
            if student is None:
                raise NotFound("no such student")
            relationships = await caller_relationships(unit, principal, self._clock().date())
        if not can_see_student(principal, student, relationships):
            raise PermissionDenied("outside the caller's scope")
        return student

    async def transfer(self, principal: Principal, transfer: Transfer) -> Student:
        """Moves a student to another school (R4). The caller must act for the school the
        student leaves or the one they join; archives hands the file on from the event."""
        principal.require_any_role(*TRANSFERRING_ROLES)
        async with self._units() as unit:
            student = await unit.students.by_id(transfer.student_id)
            if student is None:
                raise NotFound("no such student")
            destination = await unit.organisation.school(transfer.to_school_code)
            if destination is None:
                raise InvalidArgument("to_school_code", "no such school is registered")
            if (
                transfer.to_class_code
                and await unit.organisation.school_class(transfer.to_class_code) is None
            ):
                raise InvalidArgument("to_class_code", "no such class at the new school")
            sees_origin = can_see_school(
                principal, school_code=student.school_code, county_code=student.county_code
            )
            sees_destination = can_see_school(
                principal,
                school_code=destination.school_code,
                county_code=destination.county_code,
            )
            if not (sees_origin or sees_destination):
                raise PermissionDenied("outside the caller's scope")
            if student.school_code == destination.school_code:
                raise FailedPrecondition("the student is already at that school")
            moved = await unit.students.move(student, transfer, destination.county_code)
            await unit.events.student_transferred(student, moved, transfer)
            return moved
