"""Where a caller may look: the tier rules of DOMAIN.md §2, as pure functions.

The city sees everything; a county official sees the schools of their county; school staff
see their school; services act for the platform. Narrower rules (a head teacher's classes, a
guardian's children, a hospital's referrals) are relationships that identity resolves and the
owning service checks on top of these.
"""

from __future__ import annotations

from xinyu_core.auth import Principal
from xinyu_core.errors import PermissionDenied

CITY_CODE = "360700"
CITY_ROLES = frozenset({"city_admin", "auditor"})
COUNTY_ROLES = frozenset({"county_admin", "county_counsellor"})
# Staff who act for the whole school. Head and subject teachers, committee members, mentors
# and guardians see individual children only through a relationship, which identity resolves.
SCHOOL_ROLES = frozenset({"school_admin", "psych_teacher"})


def can_see_school(principal: Principal, *, school_code: str, county_code: str) -> bool:
    if principal.is_service:
        return True
    if principal.has_any_role(*CITY_ROLES) and principal.org_unit == CITY_CODE:
        return True
    if principal.has_any_role(*COUNTY_ROLES) and principal.org_unit == county_code:
        return True
    return principal.has_any_role(*SCHOOL_ROLES) and principal.org_unit == school_code


def require_school_scope(principal: Principal, *, school_code: str, county_code: str) -> None:
    if not can_see_school(principal, school_code=school_code, county_code=county_code):
        raise PermissionDenied("outside the caller's scope")
