"""The bulk-written StudentEnrolled payload is byte for byte the one-by-one event."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from identity.adapters.messaging.events import student_enrolled_event
from identity.domain.model import Student
from identity.roster.events import fixed_headers, template_for


def test_a_filled_template_is_the_serialised_event() -> None:
    enrolled_at = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=UTC)
    template = template_for("3607020001", "360702", enrolled_at)
    for _ in range(50):
        student_id, event_id = uuid.uuid4(), uuid.uuid4()
        event = student_enrolled_event(
            Student(
                student_id=student_id,
                student_number="G360702201201010014",
                full_name="张三",
                school_code="3607020001",
                county_code="360702",
                enrolled_at=enrolled_at,
            )
        )
        event.meta.event_id = str(event_id)
        assert template.fill(event_id, student_id) == event.SerializeToString()


def test_the_shared_headers_are_the_outbox_writers() -> None:
    headers = json.loads(fixed_headers())
    assert headers == {
        "content-type": "application/x-protobuf",
        "x-payload-type": "xinyu.events.v1.StudentEnrolled",
    }
