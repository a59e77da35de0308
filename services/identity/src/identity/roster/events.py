"""``identity.student.enrolled.v1`` outbox rows for many students at once, byte for byte what
:class:`~xinyu_core.messaging.OutboxWriter` stores for one.

In one import every new student's event differs only in the student id (the payload's
``student_id`` and the envelope's ``subject``) and the event id; the school, county and time are
shared by the school's students. Both ids are UUIDs, always 36 characters, so the serialised
message is a fixed template with three fixed-width slots: PostgreSQL fills them in while it
inserts the students, and no row travels back to Python. ``template_for`` serialises a real
event (stamped and validated like any other) with marker ids and cuts it at the markers; the
unit tests compare filled templates with ``SerializeToString`` of ordinary events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from identity.adapters.messaging.events import STUDENT_ENROLLED, student_enrolled_event
from identity.domain.model import Student
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.messaging import payload_type_of, validate_event, validate_topic
from xinyu_core.messaging.outbox import (
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    PAYLOAD_TYPE_HEADER,
    PROTOBUF_CONTENT_TYPE,
)
from xinyu_core.messaging.tracing import capture_trace_headers

_EVENT_MARK = UUID("eeeeeeee-eeee-4eee-aeee-eeeeeeeeeeee")
_STUDENT_MARK = UUID("55555555-5555-4555-a555-555555555555")
TOPIC = validate_topic(STUDENT_ENROLLED)


@dataclass(frozen=True)
class PayloadTemplate:
    """``before_event + event_id + before_subject + student_id + before_student + student_id +
    after`` is the serialised event."""

    before_event: bytes
    before_subject: bytes
    before_student: bytes
    after: bytes

    def fill(self, event_id: UUID, student_id: UUID) -> bytes:
        event, student = str(event_id).encode(), str(student_id).encode()
        return (
            self.before_event
            + event
            + self.before_subject
            + student
            + self.before_student
            + student
            + self.after
        )


def template_for(school_code: str, county_code: str, enrolled_at: datetime) -> PayloadTemplate:
    event = student_enrolled_event(
        Student(
            student_id=_STUDENT_MARK,
            student_number="",
            full_name="",
            school_code=school_code,
            county_code=county_code,
            enrolled_at=enrolled_at,
        )
    )
    event.meta.event_id = str(_EVENT_MARK)
    validate_event(event)
    # The same call OutboxWriter.add makes.
    payload = event.SerializeToString()
    event_mark, student_mark = str(_EVENT_MARK).encode(), str(_STUDENT_MARK).encode()
    # The envelope (field 1) comes first, event_id before subject; then the payload's
    # student_id. Anything else means the message changed shape and the template would lie.
    before_event, rest = _cut(payload, event_mark)
    before_subject, rest = _cut(rest, student_mark)
    before_student, after = _cut(rest, student_mark)
    if event_mark in after or student_mark in after:
        raise RuntimeError("StudentEnrolled no longer has the shape the template expects")
    return PayloadTemplate(before_event, before_subject, before_student, after)


def _cut(data: bytes, mark: bytes) -> tuple[bytes, bytes]:
    head, found, tail = data.partition(mark)
    if not found:
        raise RuntimeError("StudentEnrolled no longer has the shape the template expects")
    return head, tail


def fixed_headers() -> str:
    """The headers every row shares, as JSON; PostgreSQL adds ``x-event-id`` per row. Taken
    in the caller's trace context, as ``OutboxWriter.add`` would."""
    headers = {
        **capture_trace_headers(),
        CONTENT_TYPE_HEADER: PROTOBUF_CONTENT_TYPE,
        PAYLOAD_TYPE_HEADER: payload_type_of(identity_events.StudentEnrolled),
    }
    return json.dumps(headers)


EVENT_ID_KEY = EVENT_ID_HEADER
