"""Who may do what in screening: roles, scope and the relationships identity knows."""

from __future__ import annotations

from screening.domain.model import CITY_CODE
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, PermissionDenied

SCHOOL_STAFF = ("psych_teacher", "school_admin")
COUNTY_STAFF = ("county_admin", "county_counsellor")
CITY_STAFF = ("city_admin",)
STAFF = (
    "psych_teacher",
    "school_admin",
    "head_teacher",
    "subject_teacher",
    "county_admin",
    "county_counsellor",
    "city_admin",
    "auditor",
    "operator",
)


def unit_kind(code: str) -> str:
    """ "city", "county", "school" or "class" by the shape of the code."""
    if code == CITY_CODE:
        return "city"
    if len(code) == 6 and code.isdigit() and code.startswith("3607"):
        return "county"
    if len(code) == 10 and code.isdigit():
        return "school"
    if "-" in code and len(code.split("-", 1)[0]) == 10:
        return "class"
    raise InvalidArgument("org_unit", "must be the city, a county, a school or a class code")


def school_of(code: str) -> str:
    return code.split("-", 1)[0]


def county_of(code: str) -> str:
    return code[:6]


def contains(outer: str, inner: str) -> bool:
    """Whether unit ``outer`` holds unit ``inner`` (or is it)."""
    if outer in (inner, CITY_CODE):
        return True
    kind = unit_kind(outer)
    if kind == "county":
        return inner.startswith(outer)
    if kind == "school":
        return school_of(inner) == outer
    return False


def is_school_staff(principal: Principal, school_code: str) -> bool:
    return principal.has_any_role(*SCHOOL_STAFF) and principal.org_unit == school_code


def is_psych_teacher(principal: Principal, school_code: str) -> bool:
    return principal.has_any_role("psych_teacher") and principal.org_unit == school_code


def is_beyond_school_staff(principal: Principal, unit: str) -> bool:
    """County staff of the unit's county, city staff of the city."""
    if principal.has_any_role(*CITY_STAFF) and principal.org_unit == CITY_CODE:
        return True
    return (
        principal.has_any_role(*COUNTY_STAFF)
        and contains(principal.org_unit, unit)
        and (unit_kind(principal.org_unit) == "county")
    )


def require(condition: bool) -> None:
    if not condition:
        raise PermissionDenied("the caller may not do this here")
