"""Which grade band a class sits in: from its school's type and its entry year (cohort)."""

from __future__ import annotations

from datetime import date

from screening.domain.instruments.model import GradeBand
from screening.domain.model import SchoolType
from xinyu_core.errors import FailedPrecondition

# The school year starts on 1 September: a class that entered in 2026 is in its first year
# from September 2026 to August 2027.
SCHOOL_YEAR_STARTS_MONTH = 9


def year_of_school(cohort: int, today: date) -> int:
    """1 for a class in its first year at the school."""
    school_year = today.year if today.month >= SCHOOL_YEAR_STARTS_MONTH else today.year - 1
    return school_year - cohort + 1


def _by_grade(grade: int) -> GradeBand | None:
    """Grade 1–12 counted from the first year of primary school."""
    if 1 <= grade <= 3:
        return GradeBand.PRIMARY_LOWER
    if 4 <= grade <= 6:
        return GradeBand.PRIMARY_UPPER
    if 7 <= grade <= 9:
        return GradeBand.JUNIOR_SECONDARY
    if 10 <= grade <= 12:
        return GradeBand.SENIOR_SECONDARY
    return None


def grade_band(school_type: SchoolType, cohort: int, today: date) -> GradeBand:
    year = year_of_school(cohort, today)
    offset = {
        SchoolType.PRIMARY: 0,
        SchoolType.NINE_YEAR: 0,
        SchoolType.TWELVE_YEAR: 0,
        SchoolType.JUNIOR: 6,
        SchoolType.SENIOR: 9,
        SchoolType.VOCATIONAL: 9,
    }[school_type]
    limit = {SchoolType.PRIMARY: 6, SchoolType.NINE_YEAR: 9, SchoolType.JUNIOR: 3}.get(
        school_type, 12 if school_type is SchoolType.TWELVE_YEAR else 3
    )
    band = _by_grade(year + offset) if 1 <= year <= limit else None
    if band is None:
        raise FailedPrecondition(
            f"a {school_type.value} school's class of {cohort} is not in a school year now"
        )
    return band


def age_on(birth_date: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (1 if before_birthday else 0)
