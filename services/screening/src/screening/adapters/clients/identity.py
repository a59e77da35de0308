"""identity's gRPC API as screening's ``Identity`` port: every call forwards the caller's own
token (identity checks role, scope and relationship again) and has a deadline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import grpc

from screening.domain.model import (
    EnrolmentCounts,
    Me,
    Relationship,
    RelationshipKind,
    SchoolType,
    StudentEntry,
    StudentPlace,
)
from xinyu.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyu_core.auth import Principal
from xinyu_core.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from xinyu_core.grpc.client import bearer_metadata

KINDS = {
    identity_pb2.RELATIONSHIP_KIND_GUARDIAN_OF: RelationshipKind.GUARDIAN_OF,
    identity_pb2.RELATIONSHIP_KIND_HEAD_TEACHER_OF: RelationshipKind.HEAD_TEACHER_OF,
    identity_pb2.RELATIONSHIP_KIND_SUBJECT_TEACHER_OF: RelationshipKind.SUBJECT_TEACHER_OF,
    identity_pb2.RELATIONSHIP_KIND_MENTOR_OF: RelationshipKind.MENTOR_OF,
    identity_pb2.RELATIONSHIP_KIND_PSYCH_TEACHER_OF: RelationshipKind.PSYCH_TEACHER_OF,
}
SCHOOL_TYPES = {
    identity_pb2.SCHOOL_TYPE_PRIMARY: SchoolType.PRIMARY,
    identity_pb2.SCHOOL_TYPE_JUNIOR: SchoolType.JUNIOR,
    identity_pb2.SCHOOL_TYPE_SENIOR: SchoolType.SENIOR,
    identity_pb2.SCHOOL_TYPE_NINE_YEAR: SchoolType.NINE_YEAR,
    identity_pb2.SCHOOL_TYPE_TWELVE_YEAR: SchoolType.TWELVE_YEAR,
    identity_pb2.SCHOOL_TYPE_VOCATIONAL: SchoolType.VOCATIONAL,
}
PAGE = 1000


def _error(error: grpc.aio.AioRpcError) -> DomainError:
    """identity's refusal as the same domain error here (the guard maps it back)."""
    code, message = error.code(), f"identity: {error.details() or error.code().name}"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(message)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(message)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(message)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field = dict(error.trailing_metadata() or ()).get("xinyu-field", "")
        return InvalidArgument(str(field) or "identity", message)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(message)
    return Unavailable("identity cannot answer now; try again")


def _birth_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class GrpcIdentity:
    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._deadline = deadline_seconds

    async def _call(self, rpc: Any, request: Any, principal: Principal) -> Any:
        try:
            return await rpc(
                request, metadata=bearer_metadata(principal.token), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            raise _error(error) from error

    async def who_am_i(self, principal: Principal) -> Me:
        answer = await self._call(
            self._stub.WhoAmI,
            identity_pb2.WhoAmIRequest(),
            principal,
        )
        return Me(
            relationships=tuple(
                Relationship(
                    kind=KINDS[r.kind],
                    student_id=r.student_id,
                    class_code=r.class_code,
                    school_code=r.school_code,
                )
                for r in answer.relationships
                if r.kind in KINDS
            )
        )

    async def class_students(self, principal: Principal, class_code: str) -> list[StudentEntry]:
        students: list[StudentEntry] = []
        token = ""
        while True:
            page = await self._call(
                self._stub.ListStudents,
                identity_pb2.ListStudentsRequest(
                    org_unit=class_code, page_size=PAGE, page_token=token
                ),
                principal,
            )
            students += [
                StudentEntry(
                    student_id=UUID(s.student_id),
                    full_name=s.full_name,
                    school_code=s.school_code,
                    county_code=s.county_code,
                    class_code=s.class_code,
                    cohort=s.cohort,
                    birth_date=_birth_date(s.birth_date),
                )
                for s in page.students
            ]
            token = page.next_page_token
            if not token:
                return students

    async def school_type(self, principal: Principal, school_code: str) -> SchoolType:
        answer = await self._call(
            self._stub.GetSchool,
            identity_pb2.GetSchoolRequest(school_code=school_code),
            principal,
        )
        found = SCHOOL_TYPES.get(answer.school.school_type)
        if found is None:
            raise FailedPrecondition("identity does not say what type of school this is")
        return found

    async def student_place(self, principal: Principal, student_id: str) -> StudentPlace:
        answer = await self._call(
            self._stub.GetStudent,
            identity_pb2.GetStudentRequest(student_id=student_id),
            principal,
        )
        return StudentPlace(
            student_id=UUID(answer.student.student_id),
            school_code=answer.student.school_code,
            county_code=answer.student.county_code,
        )

    async def count_students(
        self,
        principal: Principal,
        org_unit: str,
        cohorts: Sequence[int],
        school_codes: Sequence[str],
    ) -> EnrolmentCounts:
        answer = await self._call(
            self._stub.CountStudents,
            identity_pb2.CountStudentsRequest(
                org_unit=org_unit, cohorts=list(cohorts), school_codes=list(school_codes)
            ),
            principal,
        )
        return EnrolmentCounts(
            total=answer.total.enrolled,
            children={c.org_unit: c.enrolled for c in answer.children},
        )
