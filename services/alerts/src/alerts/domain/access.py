"""Who may do what with alerts, review tasks and cases (DOMAIN.md §2, deny by default).

Tiers come from ``xinyu_core.scope``: the student's school (school_admin, psych_teacher of it),
its county (county_admin, county_counsellor) and the city see alerts and cases; a responder an
alert was routed to sees and acknowledges that alert. Review tasks concern no known student yet,
so they belong to the unit's division: county staff of the unit's county, and the city.
"""

from __future__ import annotations

from collections.abc import Iterable

from alerts.domain.model import Alert, Case, ReviewTask, StudentPlace
from xinyu_core.auth import Principal
from xinyu_core.errors import PermissionDenied
from xinyu_core.scope import CITY_CODE, can_see_school

# R7, R10, R23: who may report a concern about a student.
REPORTERS = (
    "head_teacher",
    "subject_teacher",
    "health_committee",
    "psych_teacher",
    "school_admin",
    "guardian",
    "county_counsellor",
    "service",
)
# Staff who act for the school on an alert (close it, run its case, ask police for help).
HANDLERS = ("psych_teacher", "school_admin", "county_counsellor", "city_admin", "service")
# Who may stop an alert's escalation without having been told of it: those who act for the
# student's school or county; never a read-only tier such as the auditor.
ACKNOWLEDGERS = (*HANDLERS, "county_admin")
REVIEWERS = ("county_counsellor", "county_admin", "city_admin", "service")
LOCATE_REQUESTERS = ("psych_teacher", "school_admin", "service")


def in_scope(principal: Principal, student: StudentPlace) -> bool:
    return can_see_school(
        principal, school_code=student.school_code, county_code=student.county_code
    )


def require_reporter(
    principal: Principal, student: StudentPlace, responders: Iterable[str]
) -> None:
    """A reporter acts on a student of their own school, or is one of the student's responders
    (a guardian of this child, a teacher of this class)."""
    principal.require_any_role(*REPORTERS)
    if principal.is_service or in_scope(principal, student):
        return
    if principal.username and principal.username in set(responders):
        return
    if principal.has_any_role("head_teacher", "subject_teacher", "health_committee") and (
        principal.org_unit == student.school_code
    ):
        return
    raise PermissionDenied("outside the caller's scope")


def require_alert_reader(principal: Principal, alert: Alert, recipients: Iterable[str]) -> None:
    if in_scope(principal, alert.student):
        return
    if principal.username and principal.username in set(recipients):
        return
    raise PermissionDenied("outside the caller's scope")


def require_acknowledger(principal: Principal, alert: Alert, recipients: Iterable[str]) -> None:
    """Acknowledging stops the escalation, so only someone who answers for the child may: a
    responder the alert was routed to, or a handler of the student's school in scope. Readers
    by tier alone (an auditor of the city) may read an alert but never silence it."""
    if principal.username and principal.username in set(recipients):
        return
    principal.require_any_role(*ACKNOWLEDGERS)
    if not in_scope(principal, alert.student):
        raise PermissionDenied("outside the caller's scope")


def require_handler(principal: Principal, student: StudentPlace) -> None:
    principal.require_any_role(*HANDLERS)
    if not in_scope(principal, student):
        raise PermissionDenied("outside the caller's scope")


def review_scopes(principal: Principal) -> list[str] | None:
    """The unit codes whose review tasks the caller sees; None: all (the city, services)."""
    principal.require_any_role(*REVIEWERS)
    if principal.is_service or (
        principal.has_any_role("city_admin") and principal.org_unit == CITY_CODE
    ):
        return None
    if principal.has_any_role("county_counsellor", "county_admin") and principal.org_unit:
        return [principal.org_unit]
    raise PermissionDenied("outside the caller's scope")


def require_reviewer(principal: Principal, task: ReviewTask) -> None:
    scopes = review_scopes(principal)
    if scopes is not None and task.scope_code not in scopes:
        raise PermissionDenied("outside the caller's scope")


def require_case_reader(principal: Principal, case: Case) -> None:
    if principal.username and principal.username == case.owner:
        return
    if not in_scope(principal, case.student):
        raise PermissionDenied("outside the caller's scope")


def require_case_writer(principal: Principal, case: Case) -> None:
    """The owner, the school's admin, county counsellors of its county (and services)."""
    if principal.username and principal.username == case.owner:
        return
    principal.require_any_role("school_admin", "county_counsellor", "service")
    if not in_scope(principal, case.student):
        raise PermissionDenied("outside the caller's scope")


def may_see_protected_reporter(principal: Principal, case: Case | None) -> bool:
    """R23: the reporter of a protected report is known to the handling counsellor only."""
    return case is not None and bool(case.owner) and principal.username == case.owner
