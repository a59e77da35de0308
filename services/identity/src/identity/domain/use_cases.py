"""Enrolment use cases: who may enrol or look up a student, and what is recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

from identity.domain.model import Enrolment, Student
from identity.domain.ports import UnitOfWorkFactory
from xinyu_core.auth import Principal
from xinyu_core.errors import AlreadyExists, InvalidArgument, NotFound
from xinyu_core.scope import require_school_scope

ENROLLING_ROLES = ("school_admin", "county_admin", "city_admin", "service")


class StudentDirectory:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._units = units
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
        async with self._units() as unit:
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
            )
            await unit.students.add(student)
            await unit.events.student_enrolled(student)
            return student, True

    async def get(self, principal: Principal, student_id: str) -> Student:
        try:
            wanted = UUID(student_id)
        except ValueError as error:
            raise InvalidArgument("student_id", "must be a UUID") from error
        async with self._units() as unit:
            student = await unit.students.by_id(wanted)
        if student is None:
            raise NotFound("no such student")
        require_school_scope(
            principal, school_code=student.school_code, county_code=student.county_code
        )
        return student
