"""The organisation, its people and who is responsible for whom. Pure domain: no transport,
no database. Constructors validate, so an invalid value never reaches a repository, and every
error names the field it is about."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from xinyu_core.errors import InvalidArgument

# 学籍号: the national student number is a letter (G for resident-ID based numbers, L or J for
# temporary ones) followed by the 18 characters of a resident-ID-shaped number.
_STUDENT_NUMBER = re.compile(r"^[GLJ]\d{17}[\dX]$")


def is_student_number(value: str) -> bool:
    """The national student number's shape: G, L or J and 18 digits (the last may be X)."""
    return bool(_STUDENT_NUMBER.match(value))


_SCHOOL_CODE = re.compile(r"^\d{10}$")
# County-level divisions of Ganzhou all start with the city's prefix 3607.
_COUNTY_CODE = re.compile(r"^3607\d{2}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_DEPARTMENT_CODE = re.compile(r"^[a-z][a-z-]{1,30}-\d{6}(-\d{1,4})?$")
CITY_CODE = "360700"
MAX_NAME_LENGTH = 50
MAX_UNIT_NAME_LENGTH = 100


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class SchoolType(StrEnum):
    PRIMARY = "primary"
    JUNIOR = "junior"
    SENIOR = "senior"
    NINE_YEAR = "nine_year"
    TWELVE_YEAR = "twelve_year"
    VOCATIONAL = "vocational"


class DepartmentType(StrEnum):
    POLICE = "police"
    CYBERSPACE = "cyberspace"
    HEALTH_COMMISSION = "health_commission"
    HOSPITAL = "hospital"
    WOMENS_FEDERATION = "womens_federation"
    FAMILY_STATION = "family_station"
    YOUTH_LEAGUE = "youth_league"
    COUNTY_CENTRE = "county_centre"


class PersonKind(StrEnum):
    STAFF = "staff"
    GUARDIAN = "guardian"


class RelationshipKind(StrEnum):
    GUARDIAN_OF = "guardian_of"
    HEAD_TEACHER_OF = "head_teacher_of"
    SUBJECT_TEACHER_OF = "subject_teacher_of"
    MENTOR_OF = "mentor_of"
    PSYCH_TEACHER_OF = "psych_teacher_of"


STUDENT_TARGETED = frozenset({RelationshipKind.GUARDIAN_OF, RelationshipKind.MENTOR_OF})
CLASS_TARGETED = frozenset({RelationshipKind.HEAD_TEACHER_OF, RelationshipKind.SUBJECT_TEACHER_OF})


class TransferKind(StrEnum):
    TRANSFER = "transfer"
    PROMOTION = "promotion"


def require_school_code(value: str, field: str = "school_code") -> str:
    if not _SCHOOL_CODE.match(value):
        raise InvalidArgument(field, "must be the school's 10-digit code")
    return value


def require_county_code(value: str, field: str = "county_code") -> str:
    if not _COUNTY_CODE.match(value) or value == CITY_CODE:
        raise InvalidArgument(field, "must be a Ganzhou county-level code (3607xx)")
    return value


def require_name(value: str, field: str, limit: int = MAX_NAME_LENGTH) -> str:
    name = value.strip()
    if not name or len(name) > limit:
        raise InvalidArgument(field, f"must be 1 to {limit} characters")
    return name


def grade_code(school_code: str, cohort: int) -> str:
    return f"{school_code}-{cohort}"


def class_code(school_code: str, cohort: int, number: int) -> str:
    return f"{school_code}-{cohort}-{number:02d}"


def school_of_class(code: str) -> str:
    """The school a class code belongs to (its first ten characters)."""
    return code.split("-", 1)[0]


@dataclass(frozen=True)
class Enrolment:
    """What a school says when it enrols a student; validated on construction."""

    student_number: str
    full_name: str
    school_code: str
    county_code: str
    gender: Gender | None = None
    birth_date: date | None = None
    # The clear resident ID, only on its way to ResidentIdProtector; never stored.
    resident_id: str = ""
    class_code: str = ""

    def __post_init__(self) -> None:
        if not _STUDENT_NUMBER.match(self.student_number):
            raise InvalidArgument(
                "student_number", "must be a letter G, L or J and 18 digits (last may be X)"
            )
        require_name(self.full_name, "full_name")
        require_school_code(self.school_code)
        require_county_code(self.county_code)
        if self.birth_date is not None and not date(1990, 1, 1) <= self.birth_date <= date.today():
            raise InvalidArgument("birth_date", "must be a past date after 1990")
        if self.class_code and school_of_class(self.class_code) != self.school_code:
            raise InvalidArgument("class_code", "must be a class of the same school")


@dataclass(frozen=True)
class Student:
    student_id: UUID
    student_number: str
    full_name: str
    school_code: str
    county_code: str
    enrolled_at: datetime
    gender: Gender | None = None
    birth_date: date | None = None
    resident_id_hash: str = ""
    resident_id_masked: str = ""
    class_code: str = ""
    # "enrolled", or "left" / "graduated": a record outlives the enrolment.
    status: str = "enrolled"


@dataclass(frozen=True)
class StudentEntry:
    """A student as a class list shows them: no student number, no resident ID."""

    student_id: UUID
    full_name: str
    school_code: str
    county_code: str
    class_code: str = ""
    # Entry year of the student's class; 0 without a class.
    cohort: int = 0
    gender: Gender | None = None
    birth_date: date | None = None


@dataclass(frozen=True)
class School:
    school_code: str
    name: str
    county_code: str
    school_type: SchoolType
    enrolment: int = 0
    has_counselling_station: bool = False
    has_hotline: bool = False
    has_counsellor: bool = False
    is_specialty_school: bool = False

    def __post_init__(self) -> None:
        require_school_code(self.school_code)
        require_name(self.name, "name", MAX_UNIT_NAME_LENGTH)
        require_county_code(self.county_code)
        if self.enrolment < 0:
            raise InvalidArgument("enrolment", "must not be negative")


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    department_type: DepartmentType
    jurisdiction_code: str

    def __post_init__(self) -> None:
        if not _DEPARTMENT_CODE.match(self.code):
            raise InvalidArgument(
                "code", "must look like <type>-<6-digit area>, e.g. police-360702"
            )
        require_name(self.name, "name", MAX_UNIT_NAME_LENGTH)
        if self.jurisdiction_code != CITY_CODE:
            require_county_code(self.jurisdiction_code, "jurisdiction_code")


@dataclass(frozen=True)
class SchoolClass:
    class_code: str
    school_code: str
    cohort: int
    number: int

    @staticmethod
    def of(school_code: str, cohort: int, number: int) -> SchoolClass:
        require_school_code(school_code)
        if not 1990 <= cohort <= 2100:
            raise InvalidArgument("cohort", "must be the entry year, e.g. 2024")
        if not 1 <= number <= 99:
            raise InvalidArgument("number", "must be between 1 and 99")
        return SchoolClass(class_code(school_code, cohort, number), school_code, cohort, number)

    @property
    def name(self) -> str:
        return f"{self.cohort}级{self.number}班"


@dataclass(frozen=True)
class Person:
    person_id: UUID
    kind: PersonKind
    username: str
    full_name: str
    gender: Gender | None = None
    home_unit_code: str = ""
    # Realm roles granted explicitly (school_admin, county_admin…), sorted and unique; the
    # roles relationships imply are derived (identity.domain.account_state), not listed here.
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(sorted(set(self.roles))))
        if not _USERNAME.match(self.username):
            raise InvalidArgument("username", "must be 3–64 lower-case letters, digits, . _ -")
        require_name(self.full_name, "full_name")
        if self.kind is PersonKind.STAFF and not self.home_unit_code:
            raise InvalidArgument("home_unit_code", "staff need the unit they work for")
        if self.kind is PersonKind.GUARDIAN and self.roles:
            raise InvalidArgument("roles", "a guardian's role comes from their guardianships")


@dataclass(frozen=True)
class Relationship:
    relationship_id: UUID
    person_id: UUID
    kind: RelationshipKind
    valid_from: date
    student_id: UUID | None = None
    class_code: str = ""
    school_code: str = ""
    full_time: bool = False
    subject: str = ""
    valid_to: date | None = None

    def __post_init__(self) -> None:
        wants_student = self.kind in STUDENT_TARGETED
        wants_class = self.kind in CLASS_TARGETED
        wants_school = self.kind is RelationshipKind.PSYCH_TEACHER_OF
        if wants_student != (self.student_id is not None):
            raise InvalidArgument("student_id", f"{self.kind.value} needs exactly a student")
        if wants_class != bool(self.class_code):
            raise InvalidArgument("class_code", f"{self.kind.value} needs exactly a class")
        if wants_school != bool(self.school_code):
            raise InvalidArgument("school_code", f"{self.kind.value} needs exactly a school")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise InvalidArgument("valid_to", "must be after valid_from")

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class Transfer:
    student_id: UUID
    to_school_code: str
    kind: TransferKind
    effective_on: date
    to_class_code: str = ""

    def __post_init__(self) -> None:
        require_school_code(self.to_school_code, "to_school_code")
        if self.to_class_code and school_of_class(self.to_class_code) != self.to_school_code:
            raise InvalidArgument("to_class_code", "must be a class of the new school")
