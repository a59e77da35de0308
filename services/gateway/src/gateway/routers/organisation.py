"""The organisation, people, relationships and policy reports (identity). Translates HTTP ⇄
gRPC only; identity decides scope and relationships."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from gateway.access import allow, authenticated
from gateway.backend import ask
from gateway.proto_json import enum_number, to_json
from gateway.runtime import Runtime, runtime
from xinyu.identity.v1 import identity_pb2 as pb
from xinyu_core.auth import Principal

router = APIRouter(prefix="/v1", tags=["organisation"])

ORG_MANAGERS = ("county_admin", "city_admin")
SCHOOL_MANAGERS = ("school_admin", "county_admin", "city_admin")
SCHOOL_READERS = (
    "school_admin",
    "psych_teacher",
    "head_teacher",
    "subject_teacher",
    "county_admin",
    "county_counsellor",
    "city_admin",
    "auditor",
)
REPORT_READERS = (
    "school_admin",
    "psych_teacher",
    "county_admin",
    "county_counsellor",
    "city_admin",
    "auditor",
)
APPOINTERS = ("school_admin", "head_teacher", "county_admin", "city_admin")

Json = dict[str, Any]
SchoolTypeName = Literal["primary", "junior", "senior", "nine_year", "twelve_year", "vocational"]
DepartmentTypeName = Literal[
    "police",
    "cyberspace",
    "health_commission",
    "hospital",
    "womens_federation",
    "family_station",
    "youth_league",
    "county_centre",
]
RelationshipKindName = Literal[
    "guardian_of", "head_teacher_of", "subject_teacher_of", "mentor_of", "psych_teacher_of"
]
GenderName = Literal["male", "female"]


def _created(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


class SchoolBody(BaseModel):
    school_code: str = Field(min_length=1, max_length=16, description="10-digit school code")
    name: str = Field(min_length=1, max_length=100)
    county_code: str = Field(min_length=1, max_length=8)
    school_type: SchoolTypeName
    enrolment: int = Field(ge=0, le=100_000)
    has_counselling_station: bool = False
    has_hotline: bool = False
    has_counsellor: bool = False
    is_specialty_school: bool = False


@router.post("/schools", status_code=status.HTTP_201_CREATED)
async def register_school(
    body: SchoolBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*ORG_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Registers or updates a school (R26 facilities, R27 specialty). 201 new, 200 otherwise."""
    fields = body.model_dump()
    fields["school_type"] = enum_number(pb.SchoolType.DESCRIPTOR, body.school_type)
    reply = await ask(
        request,
        principal,
        rt.identity.RegisterSchool,
        pb.RegisterSchoolRequest(school=pb.School(**fields)),
    )
    _created(response, reply.created)
    return to_json(reply.school)


@router.get("/schools/{school_code}")
async def get_school(
    school_code: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    reply = await ask(
        request, principal, rt.identity.GetSchool, pb.GetSchoolRequest(school_code=school_code)
    )
    return to_json(reply.school)


@router.get("/org-units/{org_unit}/schools")
async def list_schools(
    org_unit: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*ORG_MANAGERS, "county_counsellor", "auditor"))],
    rt: Annotated[Runtime, Depends(runtime)],
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: str = "",
) -> Json:
    """Schools of a county (or of the whole city for 360700), in pages."""
    reply = await ask(
        request,
        principal,
        rt.identity.ListSchools,
        pb.ListSchoolsRequest(org_unit=org_unit, page_size=page_size, page_token=page_token),
    )
    return to_json(reply)


class DepartmentBody(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="e.g. police-360702")
    name: str = Field(min_length=1, max_length=100)
    department_type: DepartmentTypeName
    jurisdiction_code: str = Field(min_length=6, max_length=6)


@router.post("/departments", status_code=status.HTTP_201_CREATED)
async def register_department(
    body: DepartmentBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*ORG_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Registers a department beside the tree (R28): police, cyberspace, hospitals…"""
    department = pb.Department(
        code=body.code,
        name=body.name,
        department_type=enum_number(pb.DepartmentType.DESCRIPTOR, body.department_type),  # type: ignore[arg-type]
        jurisdiction_code=body.jurisdiction_code,
    )
    reply = await ask(
        request,
        principal,
        rt.identity.RegisterDepartment,
        pb.RegisterDepartmentRequest(department=department),
    )
    _created(response, reply.created)
    return to_json(reply.department)


class ClassBody(BaseModel):
    cohort: int = Field(ge=1990, le=2100, description="entry year (届)")
    number: int = Field(ge=1, le=99)


@router.post("/schools/{school_code}/classes", status_code=status.HTTP_201_CREATED)
async def create_class(
    school_code: str,
    body: ClassBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    reply = await ask(
        request,
        principal,
        rt.identity.CreateClass,
        pb.CreateClassRequest(school_code=school_code, cohort=body.cohort, number=body.number),
    )
    _created(response, reply.created)
    return to_json(reply.school_class)


class PersonBody(BaseModel):
    kind: Literal["staff", "guardian"]
    username: str = Field(min_length=3, max_length=64)
    full_name: str = Field(min_length=1, max_length=50)
    gender: GenderName | None = None
    home_unit_code: str = Field(default="", max_length=40)
    # Explicit realm roles (e.g. school_admin); identity checks them against the caller's own.
    roles: list[str] = Field(default=[], max_length=16)


@router.post("/people", status_code=status.HTTP_201_CREATED)
async def register_person(
    body: PersonBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Registers a member of staff or a guardian; idempotent on the username."""
    reply = await ask(
        request,
        principal,
        rt.identity.RegisterPerson,
        pb.RegisterPersonRequest(
            kind=enum_number(pb.PersonKind.DESCRIPTOR, body.kind),  # type: ignore[arg-type]
            username=body.username,
            full_name=body.full_name,
            gender=enum_number(pb.Gender.DESCRIPTOR, body.gender) if body.gender else 0,  # type: ignore[arg-type]
            home_unit_code=body.home_unit_code,
            roles=body.roles,
        ),
    )
    _created(response, reply.created)
    return to_json(reply.person)


class RelationshipBody(BaseModel):
    person_id: str
    kind: RelationshipKindName
    student_id: str = ""
    class_code: str = ""
    school_code: str = ""
    full_time: bool = False
    subject: str = Field(default="", max_length=20)
    valid_from: date
    valid_to: date | None = None


@router.post("/relationships", status_code=status.HTTP_201_CREATED)
async def assign_relationship(
    body: RelationshipBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Records that a person is responsible for a student, a class or a school."""
    relationship = pb.Relationship(
        person_id=body.person_id,
        kind=enum_number(pb.RelationshipKind.DESCRIPTOR, body.kind),  # type: ignore[arg-type]
        student_id=body.student_id,
        class_code=body.class_code,
        school_code=body.school_code,
        full_time=body.full_time,
        subject=body.subject,
        valid_from=body.valid_from.isoformat(),
        valid_to=body.valid_to.isoformat() if body.valid_to else "",
    )
    reply = await ask(
        request,
        principal,
        rt.identity.AssignRelationship,
        pb.AssignRelationshipRequest(relationship=relationship),
    )
    _created(response, reply.created)
    return to_json(reply.relationship)


class EndBody(BaseModel):
    valid_to: date


@router.post("/relationships/{relationship_id}/end")
async def end_relationship(
    relationship_id: str,
    body: EndBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    reply = await ask(
        request,
        principal,
        rt.identity.EndRelationship,
        pb.EndRelationshipRequest(
            relationship_id=relationship_id, valid_to=body.valid_to.isoformat()
        ),
    )
    return to_json(reply.relationship)


class CommitteeBody(BaseModel):
    valid_from: date


@router.post("/students/{student_id}/committee", status_code=status.HTTP_201_CREATED)
async def add_committee_member(
    student_id: str,
    body: CommitteeBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*APPOINTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Appoints a student to their class's mental-health committee (R7)."""
    reply = await ask(
        request,
        principal,
        rt.identity.AddCommitteeMember,
        pb.AddCommitteeMemberRequest(student_id=student_id, valid_from=body.valid_from.isoformat()),
    )
    _created(response, reply.created)
    return to_json(reply)


class TransferBody(BaseModel):
    to_school_code: str = Field(min_length=1, max_length=16)
    to_class_code: str = ""
    kind: Literal["transfer", "promotion"]
    effective_on: date


@router.post("/students/{student_id}/transfer")
async def transfer_student(
    student_id: str,
    body: TransferBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_MANAGERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Moves a student to another school or level (R4); the file follows."""
    reply = await ask(
        request,
        principal,
        rt.identity.TransferStudent,
        pb.TransferStudentRequest(
            student_id=student_id,
            to_school_code=body.to_school_code,
            to_class_code=body.to_class_code,
            kind=enum_number(pb.TransferKind.DESCRIPTOR, body.kind),  # type: ignore[arg-type]
            effective_on=body.effective_on.isoformat(),
        ),
    )
    return to_json(reply.student)


@router.get("/me")
async def who_am_i(
    request: Request,
    principal: Annotated[Principal, Depends(authenticated)],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """The caller as the platform knows them: roles, unit and current responsibilities."""
    reply = await ask(request, principal, rt.identity.WhoAmI, pb.WhoAmIRequest())
    return to_json(reply)


@router.get("/reports/committees")
async def report_committees(
    org_unit: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*REPORT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Classes whose committee differs from the policy (R7)."""
    reply = await ask(
        request,
        principal,
        rt.identity.ReportCommittees,
        pb.ReportCommitteesRequest(org_unit=org_unit),
    )
    return to_json(reply)


@router.get("/reports/mentor-load")
async def report_mentor_load(
    org_unit: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*REPORT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Teachers mentoring more key students than the policy allows (R8)."""
    reply = await ask(
        request,
        principal,
        rt.identity.ReportMentorLoad,
        pb.ReportMentorLoadRequest(org_unit=org_unit),
    )
    return to_json(reply)


@router.get("/reports/psych-teachers")
async def report_psych_teachers(
    org_unit: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*REPORT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Full-time psychology teachers against enrolment (R24)."""
    reply = await ask(
        request,
        principal,
        rt.identity.ReportPsychTeacherCoverage,
        pb.ReportPsychTeacherCoverageRequest(org_unit=org_unit),
    )
    return to_json(reply)
