"""Proto ⇄ domain conversions for identity. Malformed values become InvalidArgument naming
the proto field, like every other validation error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TypeVar
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from identity.domain.matching import Match, MatchOutcome, MatchRequest
from identity.domain.model import (
    Department,
    DepartmentType,
    Gender,
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
    Student,
    StudentEntry,
    TransferKind,
)
from identity.domain.responders import Responder, ResponderLevel, StudentResponders
from xinyu.identity.v1 import identity_pb2 as pb
from xinyu_core.errors import InvalidArgument

_GENDER = {pb.GENDER_MALE: Gender.MALE, pb.GENDER_FEMALE: Gender.FEMALE}
_SCHOOL_TYPE = {
    pb.SCHOOL_TYPE_PRIMARY: SchoolType.PRIMARY,
    pb.SCHOOL_TYPE_JUNIOR: SchoolType.JUNIOR,
    pb.SCHOOL_TYPE_SENIOR: SchoolType.SENIOR,
    pb.SCHOOL_TYPE_NINE_YEAR: SchoolType.NINE_YEAR,
    pb.SCHOOL_TYPE_TWELVE_YEAR: SchoolType.TWELVE_YEAR,
    pb.SCHOOL_TYPE_VOCATIONAL: SchoolType.VOCATIONAL,
}
_DEPARTMENT_TYPE = {
    pb.DEPARTMENT_TYPE_POLICE: DepartmentType.POLICE,
    pb.DEPARTMENT_TYPE_CYBERSPACE: DepartmentType.CYBERSPACE,
    pb.DEPARTMENT_TYPE_HEALTH_COMMISSION: DepartmentType.HEALTH_COMMISSION,
    pb.DEPARTMENT_TYPE_HOSPITAL: DepartmentType.HOSPITAL,
    pb.DEPARTMENT_TYPE_WOMENS_FEDERATION: DepartmentType.WOMENS_FEDERATION,
    pb.DEPARTMENT_TYPE_FAMILY_STATION: DepartmentType.FAMILY_STATION,
    pb.DEPARTMENT_TYPE_YOUTH_LEAGUE: DepartmentType.YOUTH_LEAGUE,
    pb.DEPARTMENT_TYPE_COUNTY_CENTRE: DepartmentType.COUNTY_CENTRE,
}
_PERSON_KIND = {
    pb.PERSON_KIND_STAFF: PersonKind.STAFF,
    pb.PERSON_KIND_GUARDIAN: PersonKind.GUARDIAN,
}
_RELATIONSHIP_KIND = {
    pb.RELATIONSHIP_KIND_GUARDIAN_OF: RelationshipKind.GUARDIAN_OF,
    pb.RELATIONSHIP_KIND_HEAD_TEACHER_OF: RelationshipKind.HEAD_TEACHER_OF,
    pb.RELATIONSHIP_KIND_SUBJECT_TEACHER_OF: RelationshipKind.SUBJECT_TEACHER_OF,
    pb.RELATIONSHIP_KIND_MENTOR_OF: RelationshipKind.MENTOR_OF,
    pb.RELATIONSHIP_KIND_PSYCH_TEACHER_OF: RelationshipKind.PSYCH_TEACHER_OF,
}
_TRANSFER_KIND = {
    pb.TRANSFER_KIND_TRANSFER: TransferKind.TRANSFER,
    pb.TRANSFER_KIND_PROMOTION: TransferKind.PROMOTION,
}


K = TypeVar("K")
V = TypeVar("V")


def _reverse(mapping: Mapping[K, V]) -> dict[V, K]:
    return {value: key for key, value in mapping.items()}


def _required(mapping: Mapping[K, V], value: K, field: str) -> V:
    if value not in mapping:
        raise InvalidArgument(field, "must be set to one of its listed values")
    return mapping[value]


def gender(value: pb.Gender.ValueType) -> Gender | None:
    return _GENDER.get(value)


def gender_pb(value: Gender | None) -> pb.Gender.ValueType:
    return _reverse(_GENDER)[value] if value else pb.GENDER_UNSPECIFIED


_MATCH_OUTCOME = {
    MatchOutcome.EXACT: pb.MATCH_OUTCOME_EXACT,
    MatchOutcome.NONE: pb.MATCH_OUTCOME_NONE,
    MatchOutcome.UNCERTAIN: pb.MATCH_OUTCOME_UNCERTAIN,
    MatchOutcome.INVALID: pb.MATCH_OUTCOME_INVALID,
}


def match_request(request: pb.MatchStudentRequest) -> MatchRequest:
    return MatchRequest(request.student_number, request.resident_id, request.full_name)


def match_pb(match: Match) -> pb.MatchStudentResponse:
    response = pb.MatchStudentResponse(outcome=_MATCH_OUTCOME[match.outcome], reason=match.reason)
    if match.student is not None:
        response.student_id = str(match.student.student_id)
        response.school_code = match.student.school_code
        response.county_code = match.student.county_code
        response.class_code = match.student.class_code
        response.enrolled = match.student.status == "enrolled"
    return response


_RESPONDER_LEVEL = {
    ResponderLevel.CLASS: pb.RESPONDER_LEVEL_CLASS,
    ResponderLevel.GRADE: pb.RESPONDER_LEVEL_GRADE,
    ResponderLevel.SCHOOL: pb.RESPONDER_LEVEL_SCHOOL,
    ResponderLevel.FAMILY: pb.RESPONDER_LEVEL_FAMILY,
    ResponderLevel.COUNTY: pb.RESPONDER_LEVEL_COUNTY,
}


def responders_pb(student: Student, responders: Sequence[Responder]) -> pb.ListRespondersResponse:
    return pb.ListRespondersResponse(
        student_id=str(student.student_id),
        school_code=student.school_code,
        county_code=student.county_code,
        class_code=student.class_code,
        responders=[
            pb.Responder(
                person_id=str(r.person.person_id),
                username=r.person.username,
                full_name=r.person.full_name,
                level=_RESPONDER_LEVEL[r.level],
                role=r.role,
            )
            for r in responders
        ],
    )


def student_responders_pb(answer: StudentResponders) -> pb.StudentResponders:
    if answer.student is None:
        return pb.StudentResponders(
            found=False, responders=pb.ListRespondersResponse(student_id=str(answer.student_id))
        )
    return pb.StudentResponders(
        found=True, responders=responders_pb(answer.student, answer.responders)
    )


def student_entry_pb(entry: StudentEntry) -> pb.StudentEntry:
    return pb.StudentEntry(
        student_id=str(entry.student_id),
        full_name=entry.full_name,
        school_code=entry.school_code,
        county_code=entry.county_code,
        class_code=entry.class_code,
        cohort=entry.cohort,
        gender=gender_pb(entry.gender),
        birth_date=entry.birth_date.isoformat() if entry.birth_date else "",
    )


def school_type(value: pb.SchoolType.ValueType) -> SchoolType:
    return _required(_SCHOOL_TYPE, value, "school.school_type")


def department_type(value: pb.DepartmentType.ValueType) -> DepartmentType:
    return _required(_DEPARTMENT_TYPE, value, "department.department_type")


def person_kind(value: pb.PersonKind.ValueType) -> PersonKind:
    return _required(_PERSON_KIND, value, "kind")


def relationship_kind(value: pb.RelationshipKind.ValueType) -> RelationshipKind:
    return _required(_RELATIONSHIP_KIND, value, "relationship.kind")


def transfer_kind(value: pb.TransferKind.ValueType) -> TransferKind:
    return _required(_TRANSFER_KIND, value, "kind")


def day(value: str, field: str, *, required: bool = False) -> date | None:
    if not value:
        if required:
            raise InvalidArgument(field, "is required (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidArgument(field, "must be a date YYYY-MM-DD") from error


def required_day(value: str, field: str) -> date:
    parsed = day(value, field, required=True)
    assert parsed is not None
    return parsed


def uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as error:
        raise InvalidArgument(field, "must be a UUID") from error


def student_pb(student: Student) -> pb.Student:
    enrolled_at = Timestamp()
    enrolled_at.FromDatetime(student.enrolled_at)
    return pb.Student(
        student_id=str(student.student_id),
        student_number=student.student_number,
        full_name=student.full_name,
        school_code=student.school_code,
        county_code=student.county_code,
        enrolled_at=enrolled_at,
        gender=gender_pb(student.gender),
        birth_date=student.birth_date.isoformat() if student.birth_date else "",
        resident_id_masked=student.resident_id_masked,
        class_code=student.class_code,
    )


def school(message: pb.School) -> School:
    return School(
        school_code=message.school_code,
        name=message.name,
        county_code=message.county_code,
        school_type=school_type(message.school_type),
        enrolment=message.enrolment,
        has_counselling_station=message.has_counselling_station,
        has_hotline=message.has_hotline,
        has_counsellor=message.has_counsellor,
        is_specialty_school=message.is_specialty_school,
    )


def school_pb(value: School) -> pb.School:
    return pb.School(
        school_code=value.school_code,
        name=value.name,
        county_code=value.county_code,
        school_type=_reverse(_SCHOOL_TYPE)[value.school_type],
        enrolment=value.enrolment,
        has_counselling_station=value.has_counselling_station,
        has_hotline=value.has_hotline,
        has_counsellor=value.has_counsellor,
        is_specialty_school=value.is_specialty_school,
    )


def department(message: pb.Department) -> Department:
    return Department(
        code=message.code,
        name=message.name,
        department_type=department_type(message.department_type),
        jurisdiction_code=message.jurisdiction_code,
    )


def department_pb(value: Department) -> pb.Department:
    return pb.Department(
        code=value.code,
        name=value.name,
        department_type=_reverse(_DEPARTMENT_TYPE)[value.department_type],
        jurisdiction_code=value.jurisdiction_code,
    )


def class_pb(value: SchoolClass) -> pb.SchoolClass:
    return pb.SchoolClass(
        class_code=value.class_code,
        school_code=value.school_code,
        cohort=value.cohort,
        number=value.number,
        name=value.name,
    )


def person_pb(value: Person) -> pb.Person:
    return pb.Person(
        person_id=str(value.person_id),
        kind=_reverse(_PERSON_KIND)[value.kind],
        username=value.username,
        full_name=value.full_name,
        gender=gender_pb(value.gender),
        home_unit_code=value.home_unit_code,
        roles=list(value.roles),
    )


def relationship(message: pb.Relationship) -> Relationship:
    return Relationship(
        relationship_id=UUID(int=0),
        person_id=uuid(message.person_id, "relationship.person_id"),
        kind=relationship_kind(message.kind),
        valid_from=required_day(message.valid_from, "relationship.valid_from"),
        student_id=uuid(message.student_id, "relationship.student_id")
        if message.student_id
        else None,
        class_code=message.class_code,
        school_code=message.school_code,
        full_time=message.full_time,
        subject=message.subject,
        valid_to=day(message.valid_to, "relationship.valid_to"),
    )


def relationship_pb(value: Relationship) -> pb.Relationship:
    return pb.Relationship(
        relationship_id=str(value.relationship_id),
        person_id=str(value.person_id),
        kind=_reverse(_RELATIONSHIP_KIND)[value.kind],
        student_id=str(value.student_id) if value.student_id else "",
        class_code=value.class_code,
        school_code=value.school_code,
        full_time=value.full_time,
        subject=value.subject,
        valid_from=value.valid_from.isoformat(),
        valid_to=value.valid_to.isoformat() if value.valid_to else "",
    )
