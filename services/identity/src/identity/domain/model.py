"""Students and their enrolment. Pure domain: no transport, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from xinyu_core.errors import InvalidArgument

# 学籍号: the national student number is a letter (G for resident-ID based numbers, L or J for
# temporary ones) followed by the 18 characters of a resident-ID-shaped number.
_STUDENT_NUMBER = re.compile(r"^[GLJ]\d{17}[\dX]$")
_SCHOOL_CODE = re.compile(r"^\d{10}$")
# County-level divisions of Ganzhou all start with the city's prefix 3607.
_COUNTY_CODE = re.compile(r"^3607\d{2}$")
MAX_NAME_LENGTH = 50


@dataclass(frozen=True)
class Enrolment:
    """What a school says when it enrols a student; validated on construction."""

    student_number: str
    full_name: str
    school_code: str
    county_code: str

    def __post_init__(self) -> None:
        if not _STUDENT_NUMBER.match(self.student_number):
            raise InvalidArgument(
                "student_number", "must be a letter G, L or J and 18 digits (last may be X)"
            )
        name = self.full_name.strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidArgument("full_name", f"must be 1 to {MAX_NAME_LENGTH} characters")
        if not _SCHOOL_CODE.match(self.school_code):
            raise InvalidArgument("school_code", "must be the school's 10-digit code")
        if not _COUNTY_CODE.match(self.county_code):
            raise InvalidArgument("county_code", "must be a Ganzhou county-level code (3607xx)")


@dataclass(frozen=True)
class Student:
    student_id: UUID
    student_number: str
    full_name: str
    school_code: str
    county_code: str
    enrolled_at: datetime
