"""The lifelong student archive ("one student, one file", R3). Pure domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class Archive:
    archive_id: UUID
    student_id: UUID
    # The school that holds the file now; a transfer (R4) moves it.
    school_code: str
    county_code: str
    opened_at: datetime


@dataclass(frozen=True)
class StudentEnrolledFact:
    """What archives needs to know of an enrolment, as identity announced it."""

    student_id: UUID
    school_code: str
    county_code: str
    enrolled_at: datetime
