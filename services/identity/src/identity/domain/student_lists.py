"""Class lists and head counts for other services: screening starts a class sitting from a
class list and measures a campaign's coverage against head counts (R1).

A list never carries student numbers or resident IDs: whoever needs a class list to hand out
slips needs names, not identifiers. Who may ask is who may see the students: school-wide staff
of the school and officials above it; a head or subject teacher only their own classes; the
platform's services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from identity.domain.model import CITY_CODE, RelationshipKind, StudentEntry
from identity.domain.organisation import require_unit_scope
from identity.domain.ports import UnitOfWork, UnitOfWorkFactory
from identity.domain.use_cases import caller_relationships, parse_uuid
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied
from xinyu_core.scope import can_see_school

MAX_PAGE = 1_000
DEFAULT_PAGE = 500
# Relationships through which a teacher sees a whole class.
_CLASS_KINDS = {
    RelationshipKind.HEAD_TEACHER_OF: "head_teacher",
    RelationshipKind.SUBJECT_TEACHER_OF: "subject_teacher",
}


@dataclass(frozen=True)
class StudentPage:
    students: Sequence[StudentEntry]
    next_page_token: str


@dataclass(frozen=True)
class HeadCount:
    org_unit: str
    enrolled: int
    children: Sequence[tuple[str, int]]


class StudentLists:
    def __init__(
        self, units: UnitOfWorkFactory, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._units = units
        self._clock = clock

    async def list(
        self, principal: Principal, org_unit: str, page_size: int, page_token: str
    ) -> StudentPage:
        """Enrolled students of a class or a school, ordered by id, a page at a time."""
        if not org_unit:
            raise InvalidArgument("org_unit", "a class or school code is required")
        limit = _page_size(page_size)
        after = parse_uuid(page_token, "page_token") if page_token else None
        async with self._units() as unit:
            school_class = await unit.organisation.school_class(org_unit)
            school_code = school_class.school_code if school_class else org_unit
            school = await unit.organisation.school(school_code)
            if school is None:
                raise NotFound("no such class or school")
            staff = can_see_school(
                principal, school_code=school.school_code, county_code=school.county_code
            )
            teacher = school_class is not None and await self._teaches(unit, principal, org_unit)
            if not (staff or teacher):
                raise PermissionDenied("outside the caller's scope")
            found = await unit.students.entries(
                school_code=school.school_code,
                class_code=school_class.class_code if school_class else "",
                after=after,
                limit=limit + 1,
            )
        page = list(found[:limit])
        token = str(page[-1].student_id) if len(found) > limit else ""
        return StudentPage(page, token)

    async def count(
        self,
        principal: Principal,
        org_unit: str,
        cohorts: Sequence[int],
        school_codes: Sequence[str],
    ) -> HeadCount:
        """Enrolled students per child unit: counties of the city, schools of a county,
        classes of a school."""
        wanted = org_unit or principal.org_unit
        if not wanted:
            raise InvalidArgument("org_unit", "the caller has no unit; name one")
        for cohort in cohorts:
            if not 1990 <= cohort <= 2100:
                raise InvalidArgument("cohorts", "must be entry years, e.g. 2024")
        if wanted == CITY_CODE:
            group_by = "county_code"
            require_unit_scope(principal, wanted)
        elif len(wanted) == 6:
            group_by = "school_code"
            require_unit_scope(principal, wanted)
        else:
            group_by = "class_code"
            async with self._units() as unit:
                school = await unit.organisation.school(wanted)
            if school is None:
                raise NotFound("no such school")
            require_unit_scope(principal, wanted, school.county_code)
        async with self._units() as unit:
            children = await unit.students.counts(
                group_by=group_by, within=wanted, cohorts=cohorts, school_codes=school_codes
            )
        return HeadCount(wanted, sum(n for _, n in children), children)

    async def _teaches(self, unit: UnitOfWork, principal: Principal, class_code: str) -> bool:
        relationships = await caller_relationships(unit, principal, self._clock().date())
        return any(
            r.class_code == class_code
            and (role := _CLASS_KINDS.get(r.kind)) is not None
            and role in principal.roles
            for r in relationships
        )


def _page_size(requested: int) -> int:
    if requested < 0 or requested > MAX_PAGE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE}")
    return requested or DEFAULT_PAGE
