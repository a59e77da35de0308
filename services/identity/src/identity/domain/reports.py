"""Reports against the plan's staffing and class policies (R7, R8, R24). They inform
supervision; nothing is blocked by them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from identity.domain.organisation import require_unit_scope
from identity.domain.policy import OrganisationPolicy
from identity.domain.ports import CommitteeCount, MenteeCount, UnitOfWorkFactory
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument

REPORT_ROLES = (
    "school_admin",
    "psych_teacher",
    "county_admin",
    "county_counsellor",
    "city_admin",
    "auditor",
    "service",
)


@dataclass(frozen=True)
class CommitteeReport:
    deviating: Sequence[CommitteeCount]
    classes_checked: int


@dataclass(frozen=True)
class MentorReport:
    overloaded: Sequence[MenteeCount]
    mentors_checked: int


@dataclass(frozen=True)
class SchoolCoverage:
    school_code: str
    enrolment: int
    full_time: int
    part_time: int
    full_time_wanted: int
    meets_ratio: bool
    needs_full_time: bool


@dataclass(frozen=True)
class CoverageReport:
    schools: Sequence[SchoolCoverage]
    coverage: float


class Reports:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        policy: OrganisationPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._units = units
        self._policy = policy
        self._clock = clock

    @property
    def policy(self) -> OrganisationPolicy:
        return self._policy

    async def _authorise(self, principal: Principal, org_unit: str) -> None:
        principal.require_any_role(*REPORT_ROLES)
        if len(org_unit) == 10 and org_unit.isdigit():
            async with self._units() as unit:
                school = await unit.organisation.school(org_unit)
            if school is None:
                raise InvalidArgument("org_unit", "no such school is registered")
            require_unit_scope(principal, org_unit, county_of_school=school.county_code)
        elif len(org_unit) == 6 and org_unit.isdigit():
            require_unit_scope(principal, org_unit)
        else:
            raise InvalidArgument("org_unit", "must be the city, a county or a school code")

    def _today(self) -> date:
        return self._clock().date()

    async def committees(self, principal: Principal, org_unit: str) -> CommitteeReport:
        await self._authorise(principal, org_unit)
        async with self._units() as unit:
            counts = await unit.reports.committee_counts(org_unit, self._today())
        wanted = (self._policy.committee_boys, self._policy.committee_girls)
        deviating = [c for c in counts if (c.boys, c.girls) != wanted]
        return CommitteeReport(deviating=deviating, classes_checked=len(counts))

    async def mentor_load(self, principal: Principal, org_unit: str) -> MentorReport:
        await self._authorise(principal, org_unit)
        async with self._units() as unit:
            counts = await unit.reports.mentee_counts(org_unit, self._today())
        limit = self._policy.max_mentees_per_teacher
        return MentorReport(
            overloaded=[c for c in counts if c.mentees > limit], mentors_checked=len(counts)
        )

    async def psych_teacher_coverage(self, principal: Principal, org_unit: str) -> CoverageReport:
        await self._authorise(principal, org_unit)
        async with self._units() as unit:
            counts = await unit.reports.psych_teacher_counts(org_unit, self._today())
        per_teacher = self._policy.students_per_psych_teacher
        threshold = self._policy.full_time_required_above
        schools = []
        for count in counts:
            wanted = math.ceil(count.enrolment / per_teacher) if count.enrolment else 0
            needs_full_time = count.enrolment > threshold
            schools.append(
                SchoolCoverage(
                    school_code=count.school_code,
                    enrolment=count.enrolment,
                    full_time=count.full_time,
                    part_time=count.part_time,
                    full_time_wanted=wanted,
                    meets_ratio=count.full_time >= wanted,
                    needs_full_time=needs_full_time and count.full_time == 0,
                )
            )
        meeting = sum(1 for school in schools if school.meets_ratio)
        return CoverageReport(schools=schools, coverage=meeting / len(schools) if schools else 1.0)
