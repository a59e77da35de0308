"""gRPC ⇄ domain translation for IdentityService. No business rules here."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from identity.domain.model import Enrolment, Student
from identity.domain.use_cases import StudentDirectory
from xinyu.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyu_core.grpc.server import current_principal


def student_message(student: Student) -> identity_pb2.Student:
    enrolled_at = Timestamp()
    enrolled_at.FromDatetime(student.enrolled_at)
    return identity_pb2.Student(
        student_id=str(student.student_id),
        student_number=student.student_number,
        full_name=student.full_name,
        school_code=student.school_code,
        county_code=student.county_code,
        enrolled_at=enrolled_at,
    )


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, directory: StudentDirectory) -> None:
        self._directory = directory

    async def EnrolStudent(
        self, request: identity_pb2.EnrolStudentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.EnrolStudentResponse:
        enrolment = Enrolment(
            student_number=request.student_number,
            full_name=request.full_name,
            school_code=request.school_code,
            county_code=request.county_code,
        )
        student, created = await self._directory.enrol(current_principal(), enrolment)
        return identity_pb2.EnrolStudentResponse(student=student_message(student), created=created)

    async def GetStudent(
        self, request: identity_pb2.GetStudentRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetStudentResponse:
        student = await self._directory.get(current_principal(), request.student_id)
        return identity_pb2.GetStudentResponse(student=student_message(student))
