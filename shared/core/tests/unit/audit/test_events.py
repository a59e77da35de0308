"""What an AccessAudited event may contain: opaque ids and codes, never what a client typed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider

from xinyu.archives.v1 import archives_pb2
from xinyu.events.v1 import audit_pb2, envelope_pb2
from xinyu_core.audit import (
    ALLOWED,
    ANONYMOUS,
    DENIED,
    INVALID_CODE,
    NIL_SUBJECT,
    ROLE_NOT_ALLOWED,
    access_audited,
    opaque_id,
    resource_of,
)
from xinyu_core.messaging import validate_event
from xinyu_core.testing import principal

FAKE_NAME = "王小明"
FAKE_ID_NUMBER = "36070220150101123X"
STUDENT = "6f1d2b9e-3c4a-4e8b-9a0d-1b2c3d4e5f60"
SUBJECT = "0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21"


def denial(**overrides: object) -> audit_pb2.AccessAudited:
    arguments: dict[str, object] = {
        "service": "archives",
        "principal": principal(
            "psych_teacher", "offline_access", org_unit="3607020001", subject=SUBJECT
        ),
        "action": "/xinyu.archives.v1.ArchivesService/GetArchive",
        "resource_type": "student",
        "resource_id": STUDENT,
        "outcome": DENIED,
        "reason": ROLE_NOT_ALLOWED,
    }
    arguments.update(overrides)
    return access_audited(**arguments)  # type: ignore[arg-type]


def test_a_denial_carries_the_actor_the_action_and_an_envelope_keyed_by_the_actor() -> None:
    moment = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    event = denial(occurred_at=moment)
    assert validate_event(event).subject == SUBJECT
    assert event.meta.producer == "archives"
    assert event.meta.payload_type == "xinyu.events.v1.AccessAudited"
    assert event.meta.occurred_at.ToDatetime(tzinfo=UTC) == moment
    assert event.actor_subject == SUBJECT
    assert list(event.actor_roles) == ["offline_access", "psych_teacher"]  # sorted
    assert event.actor_org_unit == "3607020001"
    assert event.actor_client_id == "xinyu-cli"
    assert event.service == "archives"
    assert event.action == "/xinyu.archives.v1.ArchivesService/GetArchive"
    assert (event.resource_type, event.resource_id) == ("student", STUDENT)
    assert event.outcome == audit_pb2.ACCESS_OUTCOME_DENIED
    assert event.reason == "role-not-allowed"
    assert event.purpose == ""


def test_the_username_never_enters_the_event() -> None:
    event = denial(principal=principal("head_teacher", subject=SUBJECT, username="wang.xiaoming"))
    assert b"wang.xiaoming" not in event.SerializeToString()


def test_an_anonymous_caller_is_the_nil_subject() -> None:
    event = denial(principal=ANONYMOUS, reason="unauthenticated")
    assert event.actor_subject == NIL_SUBJECT == event.meta.subject
    assert list(event.actor_roles) == []


def test_a_subject_that_is_not_a_uuid_becomes_the_nil_subject() -> None:
    event = denial(principal=principal("guardian", subject=FAKE_ID_NUMBER))
    assert event.actor_subject == NIL_SUBJECT
    assert FAKE_ID_NUMBER.encode() not in event.SerializeToString()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (STUDENT, STUDENT),
        (f"case-{STUDENT}", f"case-{STUDENT}"),
        (FAKE_ID_NUMBER, ""),
        (FAKE_NAME, ""),
        (STUDENT.upper(), ""),
        (f"{STUDENT} {FAKE_NAME}", ""),
        ("", ""),
    ],
)
def test_only_opaque_resource_ids_are_kept(given: str, kept: str) -> None:
    assert opaque_id(given) == kept
    assert denial(resource_id=given).resource_id == kept


@pytest.mark.parametrize("reason", [f"denied {FAKE_NAME}", "Outside scope", "a" * 101, "-x"])
def test_a_reason_that_is_not_a_code_is_replaced_not_trimmed(reason: str) -> None:
    event = denial(reason=reason)
    assert event.reason == INVALID_CODE
    assert FAKE_NAME.encode() not in event.SerializeToString()


def test_a_resource_type_and_purpose_must_be_codes_too() -> None:
    event = denial(resource_type=FAKE_NAME, purpose=FAKE_ID_NUMBER)
    assert event.resource_type == INVALID_CODE
    assert event.purpose == INVALID_CODE
    assert denial(purpose="crisis-response").purpose == "crisis-response"


def test_no_planted_value_survives_anywhere_in_the_bytes() -> None:
    event = denial(
        principal=principal("guardian", org_unit="3607020001", username=FAKE_NAME),
        action="/xinyu.archives.v1.ArchivesService/GetArchive",
        resource_id=FAKE_ID_NUMBER,
        reason=FAKE_NAME,
    )
    payload = event.SerializeToString()
    assert FAKE_NAME.encode() not in payload
    assert FAKE_ID_NUMBER.encode() not in payload


def test_an_unspecified_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="ALLOWED or DENIED"):
        denial(outcome=audit_pb2.ACCESS_OUTCOME_UNSPECIFIED)
    assert denial(outcome=ALLOWED, reason="sensitive-read").outcome == ALLOWED


def test_long_actions_are_cut_to_a_bounded_length() -> None:
    assert len(denial(action="/x" * 500).action) == 200


def test_the_trace_id_of_the_current_span_is_recorded() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        event = denial()
    assert event.trace_id == f"{span.get_span_context().trace_id:032x}"
    assert denial().trace_id == ""


def test_event_ids_are_fresh_uuids() -> None:
    first, second = denial(), denial()
    assert first.meta.event_id != second.meta.event_id
    assert str(uuid.UUID(first.meta.event_id)) == first.meta.event_id


def test_resource_of_a_request_reads_student_or_case_ids_and_drops_anything_else() -> None:
    assert resource_of(archives_pb2.GetArchiveRequest(student_id=STUDENT)) == ("student", STUDENT)
    assert resource_of(archives_pb2.GetArchiveRequest(student_id=FAKE_ID_NUMBER)) == (
        "student",
        "",
    )
    assert resource_of(envelope_pb2.EventMeta(subject=STUDENT)) == ("", "")
