"""The events of a roster import: one ``identity.students.enrolled.v1`` per school and block of
new students, at most :data:`MAX_STUDENTS_PER_EVENT` students each, stored in the import's
transaction as :class:`~xinyu_core.messaging.OutboxWriter` would store them one by one.

A city-wide first import enrols 1.6 million students. One event each meant 1.6 million outbox
rows (about 300 bytes and three index entries apiece) written inside the import, then relayed
and consumed one by one; per school and block it is a few thousand events carrying the same
facts (docs/decisions/0011).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from uuid import UUID

from identity.adapters.messaging.events import STUDENTS_ENROLLED, students_enrolled_event
from xinyu_core.messaging import validate_event, validate_topic
from xinyu_core.messaging.events import event_id_of
from xinyu_core.messaging.outbox import (
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    PAYLOAD_TYPE_HEADER,
    PROTOBUF_CONTENT_TYPE,
)
from xinyu_core.messaging.tracing import capture_trace_headers

TOPIC = validate_topic(STUDENTS_ENROLLED)
# 1,000 ids are about 38 KB of payload: far below Kafka's 1 MB message limit, and a consumer
# opens that many files in one short transaction.
MAX_STUDENTS_PER_EVENT = 1_000
OUTBOX_COLUMNS = ("event_id", "topic", "key", "payload", "headers")

OutboxRow = tuple[UUID, str, str, bytes, str]


def enrolment_rows(
    new_students: Iterable[tuple[UUID, str]],
    counties: dict[str, str],
    enrolled_at: datetime,
    *,
    per_event: int = MAX_STUDENTS_PER_EVENT,
) -> Iterator[OutboxRow]:
    """Outbox rows ``(event_id, topic, key, payload, headers)`` for ``(student_id,
    school_code)`` pairs, in the caller's trace context; headers as JSON text."""
    by_school: dict[str, list[UUID]] = defaultdict(list)
    for student_id, school_code in new_students:
        by_school[school_code].append(student_id)
    trace_headers = capture_trace_headers()
    for school_code in sorted(by_school):
        students = by_school[school_code]
        for start in range(0, len(students), per_event):
            event = students_enrolled_event(
                school_code,
                counties[school_code],
                enrolled_at,
                students[start : start + per_event],
            )
            meta = validate_event(event)
            event_id = event_id_of(meta)
            headers = {
                **trace_headers,
                CONTENT_TYPE_HEADER: PROTOBUF_CONTENT_TYPE,
                EVENT_ID_HEADER: str(event_id),
                PAYLOAD_TYPE_HEADER: meta.payload_type,
            }
            yield event_id, TOPIC, meta.subject, event.SerializeToString(), json.dumps(headers)
