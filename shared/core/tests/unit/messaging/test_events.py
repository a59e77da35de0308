from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from xinyu.events.v1 import envelope_pb2, identity_pb2
from xinyu_core.messaging import events
from xinyu_core.messaging.events import (
    InvalidKey,
    InvalidMeta,
    InvalidTopic,
    dlq_topic,
    meta_of,
    new_meta,
    payload_type_of,
    stamp,
    validate_event,
    validate_key,
    validate_topic,
)

STUDENT = "3f1c9a52-8a43-4a0e-9d57-0b6f2f1e8c11"


@pytest.mark.parametrize(
    "topic",
    [
        "identity.student.enrolled.v1",
        "platform.test.scratch.v1",
        "alerts.crisis-case.escalated.v12",
    ],
)
def test_accepts_well_formed_topics(topic: str) -> None:
    assert validate_topic(topic) == topic


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "identity.student.enrolled",  # no version
        "identity.student.enrolled.v0",  # versions start at 1
        "identity.student.enrolled.v01",
        "identity.student.v1",  # entity or event missing
        "identity.student.enrolled.extra.v1",
        "Identity.student.enrolled.v1",  # uppercase
        "identity.student_record.enrolled.v1",  # "_" collides with "." in Kafka metrics
        "identity.student.enrolled.v1.dlq",  # a DLQ is not a topic one produces events to
        "identity..enrolled.v1",
        "identity.student.-enrolled.v1",
    ],
)
def test_refuses_malformed_topics(topic: str) -> None:
    with pytest.raises(InvalidTopic):
        validate_topic(topic)


def test_dlq_topic_sits_beside_the_topic() -> None:
    assert dlq_topic("identity.student.enrolled.v1") == "identity.student.enrolled.v1.dlq"
    with pytest.raises(InvalidTopic):
        dlq_topic("not a topic")


@pytest.mark.parametrize("key", [STUDENT, f"case-{STUDENT}", str(uuid.uuid4())])
def test_accepts_opaque_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "张小明",  # a name
        "360702200801011234",  # an 18-character resident ID number
        "36070220080101123X",
        "G360702200801011234",  # a national student number
        STUDENT.upper(),  # one canonical spelling, so one key → one partition
        f" {STUDENT}",
        f"{STUDENT}-张小明",
        f"student-{STUDENT}",
        "3f1c9a528a434a0e9d570b6f2f1e8c11",
    ],
)
def test_refuses_keys_that_are_not_opaque_ids(key: str) -> None:
    with pytest.raises(InvalidKey) as raised:
        validate_key(key)
    # The refused value may be personal data; it must not travel on in the error.
    if key.strip():
        assert key.strip() not in str(raised.value)


def test_new_meta_fills_every_field() -> None:
    occurred = datetime(2025, 9, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    meta = new_meta("identity", STUDENT, "xinyu.events.v1.StudentEnrolled", occurred_at=occurred)
    assert uuid.UUID(meta.event_id).version == 4
    assert meta.producer == "identity"
    assert meta.subject == STUDENT
    assert meta.payload_type == "xinyu.events.v1.StudentEnrolled"
    assert meta.occurred_at.ToDatetime(tzinfo=UTC) == occurred


def test_new_meta_ids_are_unique_and_time_defaults_to_now() -> None:
    before = datetime.now(UTC)
    first = new_meta("identity", STUDENT, "x.y")
    second = new_meta("identity", STUDENT, "x.y")
    assert first.event_id != second.event_id
    assert first.occurred_at.ToDatetime(tzinfo=UTC) >= before.replace(microsecond=0)


def test_new_meta_refuses_naive_times_bad_producers_and_personal_keys() -> None:
    with pytest.raises(InvalidMeta):
        new_meta("identity", STUDENT, "x.y", occurred_at=datetime(2025, 1, 1))
    with pytest.raises(InvalidMeta):
        new_meta("Identity Service", STUDENT, "x.y")
    with pytest.raises(InvalidKey):
        new_meta("identity", "360702200801011234", "x.y")


def test_stamp_uses_the_message_type_and_keeps_a_given_event_id() -> None:
    event_id = uuid.uuid4()
    message = identity_pb2.StudentEnrolled(student_id=STUDENT)
    meta = stamp(message, "identity", STUDENT, event_id=event_id)
    assert message.meta == meta
    assert message.meta.payload_type == "xinyu.events.v1.StudentEnrolled"
    assert message.meta.event_id == str(event_id)
    assert validate_event(message) == meta


def test_payload_type_of_class_and_instance() -> None:
    assert payload_type_of(identity_pb2.StudentEnrolled) == "xinyu.events.v1.StudentEnrolled"
    assert payload_type_of(identity_pb2.StudentEnrolled()) == "xinyu.events.v1.StudentEnrolled"


def test_meta_of_refuses_messages_without_an_envelope() -> None:
    with pytest.raises(InvalidMeta):
        meta_of(envelope_pb2.EventMeta())
    assert not events.has_meta_field(envelope_pb2.EventMeta)
    assert events.has_meta_field(identity_pb2.StudentEnrolled)


def _stamped() -> identity_pb2.StudentEnrolled:
    message = identity_pb2.StudentEnrolled(student_id=STUDENT)
    stamp(message, "identity", STUDENT)
    return message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", ""),
        ("event_id", "not-a-uuid"),
        ("event_id", "3F1C9A52-8A43-4A0E-9D57-0B6F2F1E8C11"),  # non-canonical spelling
        ("producer", ""),
        ("subject", "张小明"),
        ("payload_type", "xinyu.events.v1.SomethingElse"),
    ],
)
def test_validate_event_checks_the_envelope(field: str, value: str) -> None:
    message = _stamped()
    setattr(message.meta, field, value)
    with pytest.raises((InvalidMeta, InvalidKey)):
        validate_event(message)


def test_validate_event_requires_occurred_at() -> None:
    message = _stamped()
    message.meta.ClearField("occurred_at")
    with pytest.raises(InvalidMeta):
        validate_event(message)
