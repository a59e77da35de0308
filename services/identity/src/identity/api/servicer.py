"""gRPC ⇄ domain translation for IdentityService. No business rules here."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from identity.api import convert
from identity.domain.matching import StudentMatcher
from identity.domain.model import Enrolment, Student, Transfer
from identity.domain.organisation import Organisation
from identity.domain.people import People
from identity.domain.reports import Reports
from identity.domain.responders import ResponderDirectory
from identity.domain.student_lists import StudentLists
from identity.domain.use_cases import StudentDirectory
from xinyu.identity.v1 import identity_pb2 as pb
from xinyu.identity.v1 import identity_pb2_grpc
from xinyu_core.grpc.server import current_principal

Context: TypeAlias = grpc.aio.ServicerContext


def student_message(student: Student) -> pb.Student:
    return convert.student_pb(student)


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(
        self,
        directory: StudentDirectory,
        organisation: Organisation,
        people: People,
        reports: Reports,
        lists: StudentLists,
        matcher: StudentMatcher,
        responders: ResponderDirectory,
    ) -> None:
        self._directory = directory
        self._organisation = organisation
        self._people = people
        self._reports = reports
        self._lists = lists
        self._matcher = matcher
        self._responders = responders

    async def EnrolStudent(
        self, request: pb.EnrolStudentRequest, context: Context
    ) -> pb.EnrolStudentResponse:
        enrolment = Enrolment(
            student_number=request.student_number,
            full_name=request.full_name,
            school_code=request.school_code,
            county_code=request.county_code,
            gender=convert.gender(request.gender),
            birth_date=convert.day(request.birth_date, "birth_date"),
            resident_id=request.resident_id,
            class_code=request.class_code,
        )
        student, created = await self._directory.enrol(current_principal(), enrolment)
        return pb.EnrolStudentResponse(student=student_message(student), created=created)

    async def GetStudent(
        self, request: pb.GetStudentRequest, context: Context
    ) -> pb.GetStudentResponse:
        student = await self._directory.get(current_principal(), request.student_id)
        return pb.GetStudentResponse(student=student_message(student))

    async def ListStudents(
        self, request: pb.ListStudentsRequest, context: Context
    ) -> pb.ListStudentsResponse:
        page = await self._lists.list(
            current_principal(), request.org_unit, request.page_size, request.page_token
        )
        return pb.ListStudentsResponse(
            students=[convert.student_entry_pb(entry) for entry in page.students],
            next_page_token=page.next_page_token,
        )

    async def CountStudents(
        self, request: pb.CountStudentsRequest, context: Context
    ) -> pb.CountStudentsResponse:
        count = await self._lists.count(
            current_principal(), request.org_unit, list(request.cohorts), list(request.school_codes)
        )
        return pb.CountStudentsResponse(
            total=pb.UnitCount(org_unit=count.org_unit, enrolled=count.enrolled),
            children=[pb.UnitCount(org_unit=unit, enrolled=n) for unit, n in count.children],
        )

    async def MatchStudent(
        self, request: pb.MatchStudentRequest, context: Context
    ) -> pb.MatchStudentResponse:
        match = await self._matcher.match(
            current_principal(), request.student_number, request.resident_id, request.full_name
        )
        return convert.match_pb(match)

    async def ListResponders(
        self, request: pb.ListRespondersRequest, context: Context
    ) -> pb.ListRespondersResponse:
        student, responders = await self._responders.responders(
            current_principal(), request.student_id
        )
        return convert.responders_pb(student, responders)

    async def BatchMatchStudents(
        self, request: pb.BatchMatchStudentsRequest, context: Context
    ) -> pb.BatchMatchStudentsResponse:
        matches = await self._matcher.match_many(
            current_principal(), [convert.match_request(r) for r in request.requests]
        )
        return pb.BatchMatchStudentsResponse(matches=[convert.match_pb(m) for m in matches])

    async def BatchListResponders(
        self, request: pb.BatchListRespondersRequest, context: Context
    ) -> pb.BatchListRespondersResponse:
        answers = await self._responders.responders_of_many(
            current_principal(), list(request.student_ids)
        )
        return pb.BatchListRespondersResponse(
            students=[convert.student_responders_pb(a) for a in answers]
        )

    async def TransferStudent(
        self, request: pb.TransferStudentRequest, context: Context
    ) -> pb.TransferStudentResponse:
        transfer = Transfer(
            student_id=convert.uuid(request.student_id, "student_id"),
            to_school_code=request.to_school_code,
            kind=convert.transfer_kind(request.kind),
            effective_on=convert.required_day(request.effective_on, "effective_on"),
            to_class_code=request.to_class_code,
        )
        student = await self._directory.transfer(current_principal(), transfer)
        return pb.TransferStudentResponse(student=student_message(student))

    async def RegisterSchool(
        self, request: pb.RegisterSchoolRequest, context: Context
    ) -> pb.RegisterSchoolResponse:
        school, created = await self._organisation.register_school(
            current_principal(), convert.school(request.school)
        )
        return pb.RegisterSchoolResponse(school=convert.school_pb(school), created=created)

    async def GetSchool(
        self, request: pb.GetSchoolRequest, context: Context
    ) -> pb.GetSchoolResponse:
        school = await self._organisation.get_school(current_principal(), request.school_code)
        return pb.GetSchoolResponse(school=convert.school_pb(school))

    async def ListSchools(
        self, request: pb.ListSchoolsRequest, context: Context
    ) -> pb.ListSchoolsResponse:
        schools, next_token = await self._organisation.list_schools(
            current_principal(), request.org_unit, request.page_size, request.page_token
        )
        return pb.ListSchoolsResponse(
            schools=[convert.school_pb(s) for s in schools], next_page_token=next_token
        )

    async def RegisterDepartment(
        self, request: pb.RegisterDepartmentRequest, context: Context
    ) -> pb.RegisterDepartmentResponse:
        department, created = await self._organisation.register_department(
            current_principal(), convert.department(request.department)
        )
        return pb.RegisterDepartmentResponse(
            department=convert.department_pb(department), created=created
        )

    async def CreateClass(
        self, request: pb.CreateClassRequest, context: Context
    ) -> pb.CreateClassResponse:
        school_class, created = await self._organisation.create_class(
            current_principal(), request.school_code, request.cohort, request.number
        )
        return pb.CreateClassResponse(school_class=convert.class_pb(school_class), created=created)

    async def RegisterPerson(
        self, request: pb.RegisterPersonRequest, context: Context
    ) -> pb.RegisterPersonResponse:
        person, created = await self._people.register(
            current_principal(),
            kind=convert.person_kind(request.kind),
            username=request.username,
            full_name=request.full_name,
            gender=convert.gender(request.gender),
            home_unit_code=request.home_unit_code,
            roles=list(request.roles),
        )
        return pb.RegisterPersonResponse(person=convert.person_pb(person), created=created)

    async def AssignRelationship(
        self, request: pb.AssignRelationshipRequest, context: Context
    ) -> pb.AssignRelationshipResponse:
        relationship, created = await self._people.assign(
            current_principal(), convert.relationship(request.relationship)
        )
        return pb.AssignRelationshipResponse(
            relationship=convert.relationship_pb(relationship), created=created
        )

    async def EndRelationship(
        self, request: pb.EndRelationshipRequest, context: Context
    ) -> pb.EndRelationshipResponse:
        relationship = await self._people.end(
            current_principal(),
            request.relationship_id,
            convert.required_day(request.valid_to, "valid_to"),
        )
        return pb.EndRelationshipResponse(relationship=convert.relationship_pb(relationship))

    async def AddCommitteeMember(
        self, request: pb.AddCommitteeMemberRequest, context: Context
    ) -> pb.AddCommitteeMemberResponse:
        membership_id, created = await self._people.add_committee_member(
            current_principal(),
            convert.uuid(request.student_id, "student_id"),
            convert.required_day(request.valid_from, "valid_from"),
        )
        return pb.AddCommitteeMemberResponse(membership_id=str(membership_id), created=created)

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
        me = await self._people.who_am_i(current_principal())
        return pb.WhoAmIResponse(
            subject=me.principal.subject,
            roles=sorted(me.principal.roles),
            org_unit=me.principal.org_unit,
            person=convert.person_pb(me.person) if me.person else None,
            relationships=[convert.relationship_pb(r) for r in me.relationships],
        )

    async def ReportCommittees(
        self, request: pb.ReportCommitteesRequest, context: Context
    ) -> pb.ReportCommitteesResponse:
        report = await self._reports.committees(current_principal(), request.org_unit)
        policy = self._reports.policy
        return pb.ReportCommitteesResponse(
            classes=[
                pb.CommitteeComposition(
                    class_code=c.class_code,
                    boys=c.boys,
                    girls=c.girls,
                    boys_wanted=policy.committee_boys,
                    girls_wanted=policy.committee_girls,
                )
                for c in report.deviating
            ],
            classes_checked=report.classes_checked,
        )

    async def ReportMentorLoad(
        self, request: pb.ReportMentorLoadRequest, context: Context
    ) -> pb.ReportMentorLoadResponse:
        report = await self._reports.mentor_load(current_principal(), request.org_unit)
        return pb.ReportMentorLoadResponse(
            overloaded=[
                pb.MentorLoad(person_id=str(m.person_id), full_name=m.full_name, mentees=m.mentees)
                for m in report.overloaded
            ],
            mentors_checked=report.mentors_checked,
            max_mentees=self._reports.policy.max_mentees_per_teacher,
        )

    async def ReportPsychTeacherCoverage(
        self, request: pb.ReportPsychTeacherCoverageRequest, context: Context
    ) -> pb.ReportPsychTeacherCoverageResponse:
        report = await self._reports.psych_teacher_coverage(current_principal(), request.org_unit)
        return pb.ReportPsychTeacherCoverageResponse(
            schools=[
                pb.SchoolCoverage(
                    school_code=s.school_code,
                    enrolment=s.enrolment,
                    full_time_psych_teachers=s.full_time,
                    part_time_psych_teachers=s.part_time,
                    full_time_wanted=s.full_time_wanted,
                    meets_ratio=s.meets_ratio,
                    needs_full_time=s.needs_full_time,
                )
                for s in report.schools
            ],
            students_per_teacher=self._reports.policy.students_per_psych_teacher,
            coverage=report.coverage,
        )
