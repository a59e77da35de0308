"""Which student an outside report is about (R12: police and cyberspace units name a student
by national student number or resident ID).

Only agreement is a match. A malformed identifier is INVALID (the reason names the field,
never the value); identifiers that name two different students, or a name that differs from
the enrolled student's, are UNCERTAIN: a person reviews them. Nothing here guesses.

Reports come one at a time (``match``) or in batches (``match_many``, alerts' batched intake):
both go through the same rules, and a batch costs one unit of work and two queries (students
by the batch's numbers, students by the batch's resident-ID hashes) however long it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from identity.domain.model import Student, is_student_number
from identity.domain.ports import UnitOfWorkFactory
from identity.domain.resident_id import ResidentIdProtector, normalise
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument

MAX_BATCH = 500


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


@dataclass(frozen=True)
class MatchRequest:
    """What a report says about its student: a number and/or a resident ID, maybe a name."""

    student_number: str = ""
    resident_id: str = ""
    full_name: str = ""


@dataclass(frozen=True)
class _Checked:
    """A request whose identifiers are well formed: what to look up."""

    number: str
    resident_hash: str
    full_name: str


_NOTHING_GIVEN = "a student number or a resident ID is needed"


class StudentMatcher:
    def __init__(self, units: UnitOfWorkFactory, protector: ResidentIdProtector) -> None:
        self._units = units
        self._protector = protector

    async def match(
        self, principal: Principal, student_number: str, resident_id: str, full_name: str
    ) -> Match:
        principal.require_any_role("service")
        if not student_number.strip() and not resident_id.strip():
            raise InvalidArgument("student_number", _NOTHING_GIVEN)
        (match,) = await self._match_all([MatchRequest(student_number, resident_id, full_name)])
        return match

    async def match_many(
        self, principal: Principal, requests: Sequence[MatchRequest]
    ) -> list[Match]:
        """matches[i] answers requests[i]; a request with neither identifier is INVALID."""
        principal.require_any_role("service")
        if len(requests) > MAX_BATCH:
            raise InvalidArgument("requests", f"at most {MAX_BATCH} requests a call")
        return await self._match_all(requests)

    async def _match_all(self, requests: Sequence[MatchRequest]) -> list[Match]:
        checked = [self._check(request) for request in requests]
        numbers = sorted({c.number for c in checked if isinstance(c, _Checked) and c.number})
        hashes = sorted(
            {c.resident_hash for c in checked if isinstance(c, _Checked) and c.resident_hash}
        )
        by_number: Mapping[str, Student] = {}
        by_resident: dict[str, list[Student]] = {}
        if numbers or hashes:
            async with self._units() as unit:
                if numbers:
                    by_number = await unit.students.by_numbers(numbers)
                if hashes:
                    for student in await unit.students.by_resident_id_hashes(hashes):
                        by_resident.setdefault(student.resident_id_hash, []).append(student)
        return [c if isinstance(c, Match) else _decide(c, by_number, by_resident) for c in checked]

    def _check(self, request: MatchRequest) -> _Checked | Match:
        number = request.student_number.strip().upper()
        if not number and not request.resident_id.strip():
            return Match(
                MatchOutcome.INVALID, reason=f"student_number, resident_id: {_NOTHING_GIVEN}"
            )
        if number and not is_student_number(number):
            return Match(MatchOutcome.INVALID, reason="student_number: not a national number")
        resident_hash = ""
        if request.resident_id.strip():
            try:
                resident_hash = self._protector.keyed_hash(normalise(request.resident_id))
            except InvalidArgument as problem:
                return Match(MatchOutcome.INVALID, reason=f"resident_id: {problem.message}")
        return _Checked(number, resident_hash, request.full_name)


def _decide(
    request: _Checked, by_number: Mapping[str, Student], by_resident: Mapping[str, list[Student]]
) -> Match:
    numbered = by_number.get(request.number) if request.number else None
    resident = by_resident.get(request.resident_hash, [])[:2] if request.resident_hash else []
    found = {s.student_id: s for s in (*([numbered] if numbered else []), *resident)}
    if not found:
        return Match(MatchOutcome.NONE, reason="no student has these identifiers")
    if len(found) > 1:
        return Match(MatchOutcome.UNCERTAIN, reason="the identifiers name different students")
    (student,) = found.values()
    if request.number and numbered is None:
        return Match(MatchOutcome.UNCERTAIN, reason="the student number names no student")
    if request.resident_hash and not resident:
        return Match(MatchOutcome.UNCERTAIN, reason="the resident ID names no student")
    if request.full_name.strip() and _plain(request.full_name) != _plain(student.full_name):
        return Match(MatchOutcome.UNCERTAIN, reason="the name differs from the student's")
    return Match(MatchOutcome.EXACT, student)


def _plain(name: str) -> str:
    return "".join(name.split())
