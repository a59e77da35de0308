"""From event to entry: the consumer stores only what the rules allow, or dead-letters it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from identity.audit.handler import entry_of
from xinyu.events.v1 import audit_pb2
from xinyu_core.audit import ANONYMOUS, DENIED, access_audited
from xinyu_core.messaging import PoisonMessage
from xinyu_core.testing import principal

from .entries import STUDENT, SUBJECT

RECORDED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def event(**fields: object) -> audit_pb2.AccessAudited:
    built = access_audited(
        service="archives",
        principal=principal(
            "psych_teacher", "auditor", org_unit="3607020001", subject=str(SUBJECT)
        ),
        action="/xinyu.archives.v1.ArchivesService/GetArchive",
        resource_type="student",
        resource_id=STUDENT,
        outcome=DENIED,
        reason="permission-denied",
        occurred_at=datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC),
    )
    for name, value in fields.items():
        setattr(built, name, value)
    return built


def test_an_event_becomes_an_entry_with_every_field() -> None:
    source = event()
    found = entry_of(source, RECORDED)
    assert str(found.event_id) == source.meta.event_id
    assert found.occurred_at == datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)
    assert found.recorded_at == RECORDED
    assert (found.producer, found.service) == ("archives", "archives")
    assert found.actor_subject == SUBJECT
    assert found.actor_roles == ("auditor", "psych_teacher")
    assert (found.actor_org_unit, found.actor_client_id) == ("3607020001", "xinyu-cli")
    assert (found.resource_type, found.resource_id) == ("student", STUDENT)
    assert (found.outcome, found.reason) == ("DENIED", "permission-denied")


def test_an_anonymous_denial_is_stored_under_the_nil_subject() -> None:
    source = access_audited(
        service="gateway",
        principal=ANONYMOUS,
        action="GET /v1/students/{student_id}",
        resource_type="",
        resource_id="",
        outcome=DENIED,
        reason="unauthenticated",
    )
    assert entry_of(source, RECORDED).actor_subject.int == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"outcome": audit_pb2.ACCESS_OUTCOME_UNSPECIFIED}, "audit-outcome-unspecified"),
        ({"actor_subject": "36070220150101123X"}, "audit-actor-not-a-uuid"),
        ({"actor_subject": "7d3c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21"}, "audit-actor-is-not-the-key"),
        ({"resource_id": "36070220150101123X"}, "audit-resource-id-not-opaque"),
        ({"reason": "王小明 was refused"}, "audit-reason-not-a-code"),
        ({"purpose": "because Wang asked"}, "audit-purpose-not-a-code"),
        ({"resource_type": "Student Record"}, "audit-resource-type-invalid"),
        ({"service": "Archives"}, "audit-service-invalid"),
        ({"action": ""}, "audit-action-invalid"),
        ({"trace_id": "not-a-trace"}, "audit-trace-id-invalid"),
        ({"actor_org_unit": "3607\x00"}, "audit-nul-character"),
    ],
)
def test_an_event_that_breaks_the_rules_is_poison(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(PoisonMessage) as refused:
        entry_of(event(**fields), RECORDED)
    assert refused.value.reason == reason


def test_the_chassis_marker_for_a_refused_code_is_kept() -> None:
    assert entry_of(event(reason="invalid-code"), RECORDED).reason == "invalid-code"
