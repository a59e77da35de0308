"""Students and their archives. Translates HTTP ⇄ gRPC; the services decide."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from gateway.access import allow
from gateway.backend import ask
from gateway.proto_json import enum_name, enum_number
from gateway.runtime import Runtime, runtime
from xinyu.archives.v1 import archives_pb2
from xinyu.identity.v1 import identity_pb2
from xinyu_core.auth import Principal

router = APIRouter(prefix="/v1/students", tags=["students"])

ENROLLERS = ("school_admin", "county_admin", "city_admin")
# Head and subject teachers and guardians reach a student only through a relationship, which
# identity checks; the gateway only admits the roles.
STUDENT_READERS = (
    "school_admin",
    "psych_teacher",
    "head_teacher",
    "subject_teacher",
    "guardian",
    "county_admin",
    "county_counsellor",
    "city_admin",
)
ARCHIVE_READERS = ("psych_teacher", "school_admin", "county_counsellor", "city_admin")


class EnrolStudentBody(BaseModel):
    student_number: str = Field(
        min_length=1, max_length=32, description="national student number (学籍号)"
    )
    full_name: str = Field(min_length=1, max_length=50)
    school_code: str = Field(min_length=1, max_length=16)
    county_code: str = Field(min_length=1, max_length=8)
    gender: Literal["male", "female"] | None = None
    birth_date: date | None = None
    resident_id: str = Field(
        default="", max_length=18, description="kept only as a keyed hash and a masked form"
    )
    class_code: str = Field(default="", max_length=40)


class StudentView(BaseModel):
    student_id: str
    student_number: str
    full_name: str
    school_code: str
    county_code: str
    enrolled_at: datetime
    gender: str
    birth_date: str
    resident_id_masked: str
    class_code: str


class ArchiveView(BaseModel):
    archive_id: str
    student_id: str
    school_code: str
    county_code: str
    opened_at: datetime


def _student_view(student: identity_pb2.Student) -> StudentView:
    return StudentView(
        student_id=student.student_id,
        student_number=student.student_number,
        full_name=student.full_name,
        school_code=student.school_code,
        county_code=student.county_code,
        enrolled_at=student.enrolled_at.ToDatetime(tzinfo=UTC),
        gender=enum_name(identity_pb2.Gender.DESCRIPTOR, student.gender),
        birth_date=student.birth_date,
        resident_id_masked=student.resident_id_masked,
        class_code=student.class_code,
    )


@router.post("", response_model=StudentView, status_code=status.HTTP_201_CREATED)
async def enrol_student(
    body: EnrolStudentBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*ENROLLERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> StudentView:
    """Enrols a student; repeating the same enrolment answers 200 and changes nothing."""
    reply = await ask(
        request,
        principal,
        rt.identity.EnrolStudent,
        identity_pb2.EnrolStudentRequest(
            student_number=body.student_number,
            full_name=body.full_name,
            school_code=body.school_code,
            county_code=body.county_code,
            gender=enum_number(identity_pb2.Gender.DESCRIPTOR, body.gender)  # type: ignore[arg-type]
            if body.gender
            else identity_pb2.GENDER_UNSPECIFIED,
            birth_date=body.birth_date.isoformat() if body.birth_date else "",
            resident_id=body.resident_id,
            class_code=body.class_code,
        ),
    )
    if not reply.created:
        response.status_code = status.HTTP_200_OK
    return _student_view(reply.student)


@router.get("/{student_id}", response_model=StudentView)
async def get_student(
    student_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*STUDENT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> StudentView:
    reply = await ask(
        request,
        principal,
        rt.identity.GetStudent,
        identity_pb2.GetStudentRequest(student_id=student_id),
    )
    return _student_view(reply.student)


@router.get("/{student_id}/archive", response_model=ArchiveView)
async def get_archive(
    student_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*ARCHIVE_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> ArchiveView:
    reply = await ask(
        request,
        principal,
        rt.archives.GetArchive,
        archives_pb2.GetArchiveRequest(student_id=student_id),
    )
    archive = reply.archive
    return ArchiveView(
        archive_id=archive.archive_id,
        student_id=archive.student_id,
        school_code=archive.school_code,
        county_code=archive.county_code,
        opened_at=archive.opened_at.ToDatetime(tzinfo=UTC),
    )
