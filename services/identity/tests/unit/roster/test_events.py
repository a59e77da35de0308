"""A roster import's events: one StudentsEnrolled per school and batch, each student once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from identity.adapters.messaging.events import school_subject
from identity.roster.events import MAX_STUDENTS_PER_EVENT, TOPIC, enrolment_rows
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.messaging import validate_event

ENROLLED_AT = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=UTC)
COUNTIES = {"3607020001": "360702", "3607030001": "360703"}


def test_students_are_told_per_school_in_batches_each_exactly_once() -> None:
    students = [(uuid.uuid4(), "3607020001") for _ in range(5)]
    students += [(uuid.uuid4(), "3607030001") for _ in range(2)]

    rows = list(enrolment_rows(students, COUNTIES, ENROLLED_AT, per_event=2))

    told: list[tuple[str, str]] = []
    for event_id, topic, key, payload, headers in rows:
        assert topic == TOPIC == "identity.students.enrolled.v1"
        message = identity_events.StudentsEnrolled.FromString(payload)
        meta = validate_event(message)
        assert meta.event_id == str(event_id)
        assert meta.producer == "identity"
        # The Kafka key stands for the school (an opaque UUID), never for a student.
        assert meta.subject == key == str(school_subject(message.school_code))
        assert message.county_code == COUNTIES[message.school_code]
        assert message.enrolled_at.ToDatetime(tzinfo=UTC) == ENROLLED_AT
        assert 1 <= len(message.student_ids) <= 2
        assert json.loads(headers) == {
            "content-type": "application/x-protobuf",
            "x-event-id": str(event_id),
            "x-payload-type": "xinyu.events.v1.StudentsEnrolled",
        }
        told += [(student_id, message.school_code) for student_id in message.student_ids]
    assert sorted(told) == sorted((str(s), school) for s, school in students)
    assert len(rows) == 3 + 1
    assert len({row[0] for row in rows}) == len(rows)


def test_a_large_school_is_split_below_the_message_limit() -> None:
    students = [(uuid.uuid4(), "3607020001") for _ in range(2 * MAX_STUDENTS_PER_EVENT + 1)]

    rows = list(enrolment_rows(students, COUNTIES, ENROLLED_AT))

    sizes = [len(identity_events.StudentsEnrolled.FromString(r[3]).student_ids) for r in rows]
    assert sizes == [MAX_STUDENTS_PER_EVENT, MAX_STUDENTS_PER_EVENT, 1]
    assert max(len(r[3]) for r in rows) < 100_000


def test_no_new_students_no_events() -> None:
    assert list(enrolment_rows([], COUNTIES, ENROLLED_AT)) == []
