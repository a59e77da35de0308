"""The organisation tree: schools with their facilities (R26), classes, and the departments
beside the tree (R28)."""

from __future__ import annotations

from collections.abc import Sequence

from identity.domain.model import CITY_CODE, Department, School, SchoolClass
from identity.domain.ports import UnitOfWorkFactory
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied
from xinyu_core.scope import CITY_ROLES, COUNTY_ROLES, can_see_school, require_school_scope

MAX_PAGE_SIZE = 500


def require_unit_scope(principal: Principal, org_unit: str, county_of_school: str = "") -> None:
    """The caller acts for ``org_unit``: the city, a county, or (with its county) a school."""
    if principal.is_service:
        return
    city = principal.has_any_role(*CITY_ROLES) and principal.org_unit == CITY_CODE
    if org_unit == CITY_CODE:
        if city:
            return
    elif len(org_unit) == 6:
        if city or (principal.has_any_role(*COUNTY_ROLES) and principal.org_unit == org_unit):
            return
    elif county_of_school and can_see_school(
        principal, school_code=org_unit, county_code=county_of_school
    ):
        return
    raise PermissionDenied("outside the caller's scope")


class Organisation:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self._units = units

    async def register_school(self, principal: Principal, school: School) -> tuple[School, bool]:
        principal.require_any_role("county_admin", "city_admin", "service")
        require_unit_scope(principal, school.county_code)
        async with self._units() as unit:
            existing = await unit.organisation.school(school.school_code)
            if existing is not None and existing.county_code != school.county_code:
                raise InvalidArgument("county_code", "a school does not change county")
            if existing == school:
                return existing, False
            await unit.organisation.save_school(school)
            return school, existing is None

    async def get_school(self, principal: Principal, school_code: str) -> School:
        async with self._units() as unit:
            school = await unit.organisation.school(school_code)
        if school is None:
            raise NotFound("no such school")
        # Everybody working at the school may see its record, whatever their role.
        if principal.org_unit != school.school_code:
            require_school_scope(
                principal, school_code=school.school_code, county_code=school.county_code
            )
        return school

    async def list_schools(
        self, principal: Principal, org_unit: str, page_size: int, page_token: str
    ) -> tuple[Sequence[School], str]:
        if org_unit != CITY_CODE and len(org_unit) != 6:
            raise InvalidArgument("org_unit", "must be the city or a county code")
        require_unit_scope(principal, org_unit)
        size = min(max(page_size, 1), MAX_PAGE_SIZE) if page_size else 100
        async with self._units() as unit:
            page = await unit.organisation.schools_in(org_unit, page_token, size + 1)
        more = len(page) > size
        page = page[:size]
        return page, page[-1].school_code if more and page else ""

    async def register_department(
        self, principal: Principal, department: Department
    ) -> tuple[Department, bool]:
        principal.require_any_role("county_admin", "city_admin", "service")
        require_unit_scope(principal, department.jurisdiction_code)
        async with self._units() as unit:
            existing = await unit.organisation.department(department.code)
            if existing is not None:
                if existing != department:
                    raise InvalidArgument("code", "is already a different department")
                return existing, False
            await unit.organisation.add_department(department)
            return department, True

    async def create_class(
        self, principal: Principal, school_code: str, cohort: int, number: int
    ) -> tuple[SchoolClass, bool]:
        principal.require_any_role("school_admin", "county_admin", "city_admin", "service")
        wanted = SchoolClass.of(school_code, cohort, number)
        async with self._units() as unit:
            school = await unit.organisation.school(school_code)
            if school is None:
                raise InvalidArgument("school_code", "no such school is registered")
            require_school_scope(
                principal, school_code=school.school_code, county_code=school.county_code
            )
            existing = await unit.organisation.school_class(wanted.class_code)
            if existing is not None:
                return existing, False
            await unit.organisation.add_class(wanted)
            return wanted, True
