"""Which student an outside report is about (R12: police and cyberspace units name a student
by national student number or resident ID).

Only agreement is a match. A malformed identifier is INVALID (the reason names the field,
never the value); identifiers that name two different students, or a name that differs from
the enrolled student's, are UNCERTAIN: a person reviews them. Nothing here guesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from identity.domain.model import Student, is_student_number
from identity.domain.ports import UnitOfWorkFactory
from identity.domain.resident_id import ResidentIdProtector, normalise
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument


class MatchOutcome(StrEnum):
    EXACT = "exact"
    NONE = "none"
    UNCERTAIN = "uncertain"
    INVALID = "invalid"


@dataclass(frozen=True)
class Match:
    outcome: MatchOutcome
    student: Student | None = None
    reason: str = ""


class StudentMatcher:
    def __init__(self, units: UnitOfWorkFactory, protector: ResidentIdProtector) -> None:
        self._units = units
        self._protector = protector

    async def match(
        self, principal: Principal, student_number: str, resident_id: str, full_name: str
    ) -> Match:
        principal.require_any_role("service")
        number = student_number.strip().upper()
        if not number and not resident_id.strip():
            raise InvalidArgument("student_number", "a student number or a resident ID is needed")
        if number and not is_student_number(number):
            return Match(MatchOutcome.INVALID, reason="student_number: not a national number")
        resident_hash = ""
        if resident_id.strip():
            try:
                resident_hash = self._protector.keyed_hash(normalise(resident_id))
            except InvalidArgument as problem:
                return Match(MatchOutcome.INVALID, reason=f"resident_id: {problem.message}")
        async with self._units() as unit:
            by_number = await unit.students.by_number(number) if number else None
            by_resident = (
                list(await unit.students.by_resident_id_hash(resident_hash))
                if resident_hash
                else []
            )
        found = {s.student_id: s for s in (*([by_number] if by_number else []), *by_resident)}
        if not found:
            return Match(MatchOutcome.NONE, reason="no student has these identifiers")
        if len(found) > 1:
            return Match(MatchOutcome.UNCERTAIN, reason="the identifiers name different students")
        (student,) = found.values()
        if number and by_number is None:
            return Match(MatchOutcome.UNCERTAIN, reason="the student number names no student")
        if resident_hash and not by_resident:
            return Match(MatchOutcome.UNCERTAIN, reason="the resident ID names no student")
        if full_name.strip() and _plain(full_name) != _plain(student.full_name):
            return Match(MatchOutcome.UNCERTAIN, reason="the name differs from the student's")
        return Match(MatchOutcome.EXACT, student)


def _plain(name: str) -> str:
    return "".join(name.split())
