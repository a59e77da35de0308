"""Identity's events, written to the outbox in the use case's transaction."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from identity.domain.model import Student, Transfer, TransferKind
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.messaging import OutboxWriter, stamp

PRODUCER = "identity"
STUDENT_ENROLLED = "identity.student.enrolled.v1"
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
