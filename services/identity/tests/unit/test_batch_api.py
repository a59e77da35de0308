"""The batch RPCs only translate: one proto answer per request, in order, found = false for a
student identity does not know."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from identity_fakes import World, units_for

from identity.api import servicer as servicer_module
from identity.api.servicer import IdentityServicer
from identity.domain.matching import StudentMatcher
from identity.domain.model import Student
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.responders import ResponderDirectory
from xinyu.identity.v1 import identity_pb2 as pb
from xinyu_core.testing import principal

PROTECTOR = ResidentIdProtector(b"unit-test-key-0123456789")
FIRST17 = "36070220150101001"
RID = FIRST17 + check_character(FIRST17)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(servicer_module, "current_principal", lambda: principal("service"))
    world = World()
    student = Student(
        uuid4(), "G" + RID, "学生", "3607020001", "360702", datetime(2026, 9, 1, tzinfo=UTC),
        resident_id_hash=PROTECTOR.keyed_hash(RID), class_code="3607020001-2024-01",
    )  # fmt: skip
    world.students[student.student_id] = student
    return world


def servicer(world: World) -> IdentityServicer:
    units = units_for(world)
    unused: Any = None
    return IdentityServicer(
        unused, unused, unused, unused, unused,
        StudentMatcher(units, PROTECTOR), ResponderDirectory(units),
    )  # fmt: skip


async def test_batch_match_answers_in_order(world: World) -> None:
    (student,) = world.students.values()
    request = pb.BatchMatchStudentsRequest(
        requests=[
            pb.MatchStudentRequest(),
            pb.MatchStudentRequest(resident_id=RID, full_name="学生"),
            pb.MatchStudentRequest(student_number="12345"),
        ]
    )
    response = await servicer(world).BatchMatchStudents(request, None)  # type: ignore[arg-type]
    assert [m.outcome for m in response.matches] == [
        pb.MATCH_OUTCOME_INVALID,
        pb.MATCH_OUTCOME_EXACT,
        pb.MATCH_OUTCOME_INVALID,
    ]
    assert response.matches[1].student_id == str(student.student_id)
    assert response.matches[1].class_code == student.class_code
    assert response.matches[1].enrolled
    assert response.matches[0].student_id == ""


async def test_batch_responders_answer_unknown_students_with_found_false(world: World) -> None:
    (student,) = world.students.values()
    unknown = str(uuid4())
    request = pb.BatchListRespondersRequest(student_ids=[unknown, str(student.student_id)])
    response = await servicer(world).BatchListResponders(request, None)  # type: ignore[arg-type]
    assert [s.found for s in response.students] == [False, True]
    assert response.students[0].responders == pb.ListRespondersResponse(student_id=unknown)
    assert response.students[1].responders.student_id == str(student.student_id)
    assert response.students[1].responders.school_code == student.school_code
