"""Identity's events, written to the outbox in the use case's transaction."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from identity.domain.model import Student
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.messaging import OutboxWriter, stamp

PRODUCER = "identity"
STUDENT_ENROLLED = "identity.student.enrolled.v1"


class OutboxIdentityEvents:
    def __init__(self, session: AsyncSession, outbox: OutboxWriter) -> None:
        self._session = session
        self._outbox = outbox

    async def student_enrolled(self, student: Student) -> None:
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
        await self._outbox.add(self._session, STUDENT_ENROLLED, event)
