"""Archives' event handlers: decode, translate to the domain, apply in the consumer's
transaction (the inbox row and the effect commit together)."""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from archives.adapters.db.repository import SqlArchives
from archives.domain.model import StudentEnrolledFact
from archives.domain.use_cases import open_archive_on_enrolment, open_archives_on_enrolment
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.messaging import PoisonMessage

STUDENT_ENROLLED = "identity.student.enrolled.v1"
STUDENTS_ENROLLED = "identity.students.enrolled.v1"


async def on_student_enrolled(
    session: AsyncSession, event: identity_events.StudentEnrolled
) -> None:
    try:
        student_id = UUID(event.student_id)
    except ValueError as error:
        raise PoisonMessage("student_id is not a UUID") from error
    if not event.school_code or not event.county_code:
        raise PoisonMessage("school_code and county_code are required")
    fact = StudentEnrolledFact(
        student_id=student_id,
        school_code=event.school_code,
        county_code=event.county_code,
        enrolled_at=event.enrolled_at.ToDatetime(tzinfo=UTC),
    )
    await open_archive_on_enrolment(SqlArchives(session), fact)


async def on_students_enrolled(
    session: AsyncSession, event: identity_events.StudentsEnrolled
) -> None:
    """A roster import's batch: the same as ``on_student_enrolled`` for each student in it,
    in one transaction with the inbox row."""
    try:
        student_ids = [UUID(student_id) for student_id in event.student_ids]
    except ValueError as error:
        raise PoisonMessage("student_ids holds a value that is not a UUID") from error
    if not event.school_code or not event.county_code:
        raise PoisonMessage("school_code and county_code are required")
    enrolled_at = event.enrolled_at.ToDatetime(tzinfo=UTC)
    facts = [
        StudentEnrolledFact(
            student_id=student_id,
            school_code=event.school_code,
            county_code=event.county_code,
            enrolled_at=enrolled_at,
        )
        for student_id in dict.fromkeys(student_ids)
    ]
    await open_archives_on_enrolment(SqlArchives(session), facts)
