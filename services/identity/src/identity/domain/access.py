"""Who may see a student: tier scope first, then the caller's own relationships.

A head teacher sees the students of the classes they lead (R7), a subject teacher those they
teach, a mentor their key students (R8), a guardian their own children; school-wide staff
(school admin, psychology teacher) their school; county officials their county; the city all.
"""

from __future__ import annotations

from collections.abc import Iterable

from identity.domain.model import Relationship, RelationshipKind, Student
from xinyu_core.auth import Principal
from xinyu_core.scope import can_see_school

_ROLE_OF_KIND = {
    RelationshipKind.HEAD_TEACHER_OF: "head_teacher",
    RelationshipKind.SUBJECT_TEACHER_OF: "subject_teacher",
    RelationshipKind.GUARDIAN_OF: "guardian",
}
# Any teacher may be asked to mentor a key student, whatever their main role.
_MENTOR_ROLES = ("head_teacher", "subject_teacher", "psych_teacher", "school_admin")


def sees_through_relationship(
    principal: Principal, student: Student, relationships: Iterable[Relationship]
) -> bool:
    """True when one of the caller's active relationships covers the student. The role must
    match too: a relationship recorded for a person never outlives the role in their token."""
    for relationship in relationships:
        if relationship.kind is RelationshipKind.MENTOR_OF:
            if relationship.student_id == student.student_id and principal.has_any_role(
                *_MENTOR_ROLES
            ):
                return True
            continue
        role = _ROLE_OF_KIND.get(relationship.kind)
        if role is None or role not in principal.roles:
            continue
        if relationship.student_id is not None and relationship.student_id == student.student_id:
            return True
        if relationship.class_code and relationship.class_code == student.class_code:
            return True
    return False


def can_see_student(
    principal: Principal, student: Student, relationships: Iterable[Relationship]
) -> bool:
    if can_see_school(principal, school_code=student.school_code, county_code=student.county_code):
        return True
    return sees_through_relationship(principal, student, relationships)
