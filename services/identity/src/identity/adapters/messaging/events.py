"""Identity's events, written to the outbox in the use case's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid5

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from identity.domain.model import Student, Transfer, TransferKind
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.messaging import OutboxWriter, stamp

PRODUCER = "identity"
STUDENT_ENROLLED = "identity.student.enrolled.v1"
STUDENTS_ENROLLED = "identity.students.enrolled.v1"
STUDENT_TRANSFERRED = "identity.student.transferred.v1"

_TRANSFER_KIND = {
    TransferKind.TRANSFER: identity_events.TRANSFER_KIND_TRANSFER,
    TransferKind.PROMOTION: identity_events.TRANSFER_KIND_PROMOTION,
}


def student_enrolled_event(student: Student) -> identity_events.StudentEnrolled:
    """The event exactly as the outbox stores it (the roster import writes these in bulk)."""
    enrolled_at = Timestamp()
    enrolled_at.FromDatetime(student.enrolled_at)
    event = identity_events.StudentEnrolled(
        student_id=str(student.student_id),
        school_code=student.school_code,
        county_code=student.county_code,
        enrolled_at=enrolled_at,
    )
    # The key and subject are the opaque student id, never the student number.
    stamp(event, PRODUCER, str(student.student_id), occurred_at=student.enrolled_at)
    return event


# Namespace of the name-based (RFC 9562 version 5) UUIDs that stand for a school as a subject.
_SCHOOL_SUBJECTS = UUID("6f1c1c52-2b9e-4f57-9d43-5a1e8f3c0b7d")


def school_subject(school_code: str) -> UUID:
    """The opaque subject of events about a school as a whole."""
    return uuid5(_SCHOOL_SUBJECTS, school_code)


def students_enrolled_event(
    school_code: str, county_code: str, enrolled_at: datetime, student_ids: Sequence[UUID]
) -> identity_events.StudentsEnrolled:
    """Many students enrolled at one school by one roster import (see the proto for why)."""
    timestamp = Timestamp()
    timestamp.FromDatetime(enrolled_at)
    event = identity_events.StudentsEnrolled(
        school_code=school_code,
        county_code=county_code,
        enrolled_at=timestamp,
        student_ids=[str(student_id) for student_id in student_ids],
    )
    # Kafka keys are opaque UUIDs (the chassis refuses anything else), so the subject is one
    # derived from the school: a school's batches stay in order on one partition.
    stamp(event, PRODUCER, str(school_subject(school_code)), occurred_at=enrolled_at)
    return event


class OutboxIdentityEvents:
    def __init__(self, session: AsyncSession, outbox: OutboxWriter) -> None:
        self._session = session
        self._outbox = outbox

    async def student_enrolled(self, student: Student) -> None:
        await self._outbox.add(self._session, STUDENT_ENROLLED, student_enrolled_event(student))

    async def student_transferred(
        self, before: Student, after: Student, transfer: Transfer
    ) -> None:
        event = identity_events.StudentTransferred(
            student_id=str(after.student_id),
            kind=_TRANSFER_KIND[transfer.kind],
            from_school_code=before.school_code,
            from_county_code=before.county_code,
            to_school_code=after.school_code,
            to_county_code=after.county_code,
            effective_on=transfer.effective_on.isoformat(),
        )
        stamp(event, PRODUCER, str(after.student_id))
        await self._outbox.add(self._session, STUDENT_TRANSFERRED, event)
