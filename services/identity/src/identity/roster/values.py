"""One row of a roster, checked field by field.

This is the import's hot loop (1.6 million rows for the whole city), so it is written for
speed: fields that repeat across rows (dates, entry years, class labels) are parsed once and
looked up afterwards, and a row's checks run without raising unless something is wrong. Every
error names the row and the field; none repeats the cell's value, because error reports are
shown, copied and mailed around, and the value may be a child's name or resident ID.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import date

from identity.domain import resident_id, student_number
from identity.domain.model import MAX_NAME_LENGTH
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.student_number import StudentNumberProtector
from identity.roster import columns as c
from identity.roster.columns import ColumnMap
from identity.roster.model import RowError
from xinyu_core.errors import InvalidArgument

_STUDENT_NUMBER = re.compile(r"^[GLJ]\d{17}[\dX]$")
# Control characters would break the COPY text format the rows are staged with, and a
# backslash is its escape character; neither belongs in a name.
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")
_SCHOOL_CODE = re.compile(r"^\d{10}$")
_DATE = re.compile(
    r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?(?:[ T]0{1,2}:00(?::00(?:\.0+)?)?)?$"
)
_YEAR = re.compile(r"^(\d{4})\s*(?:级|届|年)?$")
_YEAR_MONTH = re.compile(r"^(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?$")
_GRADE = re.compile(r"^(?:([一二三四五六七八九])年级|([初高])([一二三])(?:年级)?)$")
_CLASS = re.compile(
    r"^(?:\d{4}\s*级|[一二三四五六七八九]年级|[初高][一二三](?:年级)?)?\s*[（(]?\s*0*(\d{1,2})\s*[)）]?\s*班?$"
)
_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

# GB/T 2261.1 codes 1 and 2 are how the registry writes gender in its code columns.
_GENDERS = {
    "男": "male",
    "女": "female",
    "1": "male",
    "2": "female",
    "m": "male",
    "f": "female",
    "male": "male",
    "female": "female",
}
# Rows whose ID type is one of these carry a resident ID (GB 11643); others (passports, Hong
# Kong/Macao/Taiwan permits) are not validated as one and are not stored.
_RESIDENT_ID_TYPES = frozenset({"", "居民身份证", "身份证", "1", "resident_id"})
EARLIEST_BIRTH = date(1990, 1, 1)
EARLIEST_COHORT = 1990

# Marks a spreadsheet cell that held a number too long for a float (an 18-digit ID typed into
# a numeric cell): its digits are gone, and the row says so rather than "check digit".
LOST_DIGITS = "\x00"
_LOST_MESSAGE = "was stored as a number and lost digits; format the column as text"


# The columns of a staged row, in the order of the COPY text line ``RowChecker.check`` makes.
STAGING_COLUMNS = (
    "row_no",
    "student_number_hash",
    "student_number_cipher",
    "student_number_masked",
    "full_name",
    "gender",
    "birth_date",
    "resident_id_hash",
    "resident_id_masked",
    "school_code",
    "county_code",
    "class_code",
)
NULL = "\\N"


class ResidentIdShape:
    """GB 11643 validation at roster speed, with the rule itself left to
    :mod:`identity.domain.resident_id`.

    ``resident_id.normalise`` costs a few microseconds a call, which is seconds for the city.
    The check is a weighted sum mod 11, so it splits into the sums of the region (6 digits),
    date of birth (8) and sequence (3) parts; those repeat across students and are memoised.
    Each part's residue is read off ``resident_id.check_character`` of the part padded with
    zeros, so the weights and the check characters are still only written down once. Anything
    this fast path does not accept goes to ``normalise`` for its exact error.
    """

    _SHAPE = re.compile(r"^\d{17}[\dX]$")

    def __init__(self) -> None:
        # check character → residue, read off the real function with one non-zero digit.
        self._residue_of = {
            resident_id.check_character("0" * 7 + str(digit) + "0" * 9): digit
            for digit in range(10)
        }
        self._residue_of[resident_id.check_character("001" + "0" * 14)] = 10
        self._character_of = {residue: char for char, residue in self._residue_of.items()}
        self._region: dict[str, int] = {}
        self._birth: dict[str, int] = {}
        self._sequence: dict[str, int] = {}

    def _part(self, memo: dict[str, int], part: str, before: int, after: int) -> int:
        found = memo.get(part)
        if found is None:
            found = memo[part] = self._residue_of[
                resident_id.check_character("0" * before + part + "0" * after)
            ]
        return found

    def normalise(self, raw: str) -> str:
        value = raw.strip().upper()
        if self._SHAPE.match(value):
            residue = (
                self._part(self._region, value[:6], 0, 11)
                + self._part(self._birth, value[6:14], 6, 3)
                + self._part(self._sequence, value[14:17], 14, 0)
            ) % 11
            if self._character_of[residue] == value[17]:
                return value
        return resident_id.normalise(raw)  # raises the precise InvalidArgument


class ErrorLog:
    """Keeps the first ``limit`` errors (rows arrive in order, so these are the first rows')
    and counts all of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[RowError] = []
        self.count = 0

    def add(self, row: int, field: str, message: str) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append(RowError(row, field, message))


def school_year_start(today: date) -> int:
    """The school year begins in September: March 2026 is in school year 2025."""
    return today.year if today.month >= 9 else today.year - 1


class RowChecker:
    """Validates rows of one file. Remembers the student numbers and resident IDs seen so far,
    so a repeat inside the file is an error on the later row, naming the earlier one."""

    def __init__(
        self,
        columns: ColumnMap,
        *,
        schools: Mapping[str, str],
        in_scope: Set[str],
        protector: ResidentIdProtector,
        numbers: StudentNumberProtector,
        today: date,
        errors: ErrorLog,
    ) -> None:
        index = columns.index
        self._width = max(index.values()) + 1
        self._i_number = index[c.STUDENT_NUMBER]
        self._i_name = index[c.FULL_NAME]
        self._i_school = index[c.SCHOOL_CODE]
        self._i_gender = index.get(c.GENDER)
        self._i_birth = index.get(c.BIRTH_DATE)
        self._i_resident = index.get(c.RESIDENT_ID)
        self._i_id_type = index.get(c.ID_TYPE)
        self._i_cohort = index.get(c.COHORT)
        self._i_class = index.get(c.CLASS)
        self._schools = schools
        self._in_scope = in_scope
        self._hash: Callable[[str], str] = protector.keyed_hash
        # The clear number never reaches the database: its keyed hash (what students are
        # matched by), its ciphertext (one AESGCM object, a fresh nonce per row) and its mask.
        self._number_hash: Callable[[str], str] = numbers.keyed_hash
        self._encrypt_number: Callable[[str], bytes] = numbers.encrypt
        self._resident_ids = ResidentIdShape()
        self._today = today
        self._school_year = school_year_start(today)
        self._errors = errors
        self._numbers: dict[str, int] = {}
        self._residents: dict[str, int] = {}
        self._dates: dict[str, str | None] = {}
        self._cohorts: dict[str, int | str] = {}
        self._classes: dict[str, int | str] = {}
        # (school, entry year, class number) of every valid row: the classes the file needs;
        # ``new_classes`` lists those first seen since the importer last emptied it.
        self.classes: set[tuple[str, int, int]] = set()
        self.new_classes: list[tuple[str, int, int]] = []

    def check(self, row: int, cells: Sequence[str | None]) -> str | None:
        """The row as a line of COPY text (columns as in ``STAGING_COLUMNS``), or None after
        logging every problem the row has. Strings rather than objects: at 1.6 million rows
        every allocation shows."""
        if len(cells) < self._width:
            cells = [*cells, *([""] * (self._width - len(cells)))]
        add = self._errors.add
        ok = True

        number = (cells[self._i_number] or "").strip().upper()
        if not _STUDENT_NUMBER.match(number):
            ok = False
            add(
                row,
                c.STUDENT_NUMBER,
                _missing_or(number, "must be a letter G, L or J and 18 digits (last may be X)"),
            )
        else:
            first = self._numbers.setdefault(number, row)
            if first != row:
                ok = False
                add(row, c.STUDENT_NUMBER, f"appears more than once (first at row {first})")

        name = (cells[self._i_name] or "").strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            ok = False
            add(row, c.FULL_NAME, f"must be 1 to {MAX_NAME_LENGTH} characters")
        elif _BAD_NAME.search(name):
            ok = False
            add(row, c.FULL_NAME, "contains control characters or a backslash")

        gender: str | None = None
        if self._i_gender is not None:
            raw_gender = (cells[self._i_gender] or "").strip()
            if raw_gender:
                gender = _GENDERS.get(raw_gender.lower())
                if gender is None:
                    ok = False
                    add(row, c.GENDER, "must be 男 or 女 (or male/female, 1/2)")

        birth: str | None = None
        if self._i_birth is not None:
            raw_birth = (cells[self._i_birth] or "").strip()
            if raw_birth:
                birth = self._dates.get(raw_birth, "")
                if birth == "":
                    birth = self._dates[raw_birth] = self._parse_birth(raw_birth)
                if birth is None:
                    ok = False
                    add(
                        row,
                        c.BIRTH_DATE,
                        _lost_or(
                            raw_birth, "must be a past date after 1990, written like 2012-09-01"
                        ),
                    )

        rid_hash: str | None = None
        rid_masked: str | None = None
        if self._i_resident is not None:
            raw_rid = (cells[self._i_resident] or "").strip()
            id_type = (cells[self._i_id_type] or "").strip() if self._i_id_type is not None else ""
            if raw_rid and id_type in _RESIDENT_ID_TYPES:
                try:
                    rid = self._resident_ids.normalise(raw_rid)
                except InvalidArgument as error:
                    ok = False
                    add(row, c.RESIDENT_ID, _lost_or(raw_rid, _without_field(error)))
                else:
                    first = self._residents.setdefault(rid, row)
                    if first != row:
                        ok = False
                        add(row, c.RESIDENT_ID, f"the same resident ID is at row {first}")
                    if birth and rid[6:14] != birth.replace("-", ""):
                        ok = False
                        add(row, c.BIRTH_DATE, "does not match the date of birth in resident_id")
                    # The 17th digit is odd for men and even for women (GB 11643).
                    if gender and (int(rid[16]) % 2 == 1) != (gender == "male"):
                        ok = False
                        add(row, c.GENDER, "does not match the gender digit of resident_id")
                    rid_hash = self._hash(rid)
                    rid_masked = resident_id.mask(rid)

        school = (cells[self._i_school] or "").strip()
        county = self._schools.get(school)
        if county is None:
            ok = False
            add(
                row,
                c.SCHOOL_CODE,
                "no such school is registered"
                if _SCHOOL_CODE.match(school)
                else _missing_or(school, "must be the school's 10-digit code"),
            )
        elif school not in self._in_scope:
            ok = False
            add(row, c.SCHOOL_CODE, "is outside this import's scope")

        cohort: int | None = None
        number_in_grade: int | None = None
        if self._i_cohort is not None:
            raw_cohort = str(cells[self._i_cohort] or "").strip()
            if raw_cohort:
                found = self._cohorts.get(raw_cohort)
                if found is None:
                    found = self._cohorts[raw_cohort] = self._parse_cohort(raw_cohort)
                if isinstance(found, str):
                    ok = False
                    add(row, c.COHORT, found)
                else:
                    cohort = found
        if self._i_class is not None:
            raw_class = str(cells[self._i_class] or "").strip()
            if raw_class:
                found = self._classes.get(raw_class)
                if found is None:
                    found = self._classes[raw_class] = _parse_class(raw_class)
                if isinstance(found, str):
                    ok = False
                    add(row, c.CLASS, found)
                else:
                    number_in_grade = found
                    if cohort is None and ok:
                        ok = False
                        add(row, c.COHORT, "is required when a class is given")

        if not ok:
            return None
        class_code = NULL
        if number_in_grade is not None and cohort is not None:
            key = (school, cohort, number_in_grade)
            if key not in self.classes:
                self.classes.add(key)
                self.new_classes.append(key)
            class_code = f"{school}-{cohort}-{number_in_grade:02d}"
        # bytea in COPY text: "\x" and hex, its backslash doubled by COPY's own escaping.
        return (
            f"{row}\t{self._number_hash(number)}\t\\\\x{self._encrypt_number(number).hex()}\t"
            f"{student_number.mask(number)}\t{name}\t{gender or NULL}\t{birth or NULL}\t"
            f"{rid_hash or NULL}\t{rid_masked or NULL}\t{school}\t{county}\t{class_code}\n"
        )

    def _parse_birth(self, raw: str) -> str | None:
        match = _DATE.match(raw)
        if match is None:
            return None
        try:
            value = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
        if not EARLIEST_BIRTH <= value <= self._today:
            return None
        return value.isoformat()

    def _parse_cohort(self, raw: str) -> int | str:
        year: int | None = None
        if match := _YEAR.match(raw) or _YEAR_MONTH.match(raw):
            year = int(match[1])
        elif match := _GRADE.match(raw):
            if match[1]:
                grade = _NUMERALS[match[1]]
                # 七年级 is the first year of junior school, 一年级 of primary.
                year_in_stage = grade - 6 if grade > 6 else grade
            else:
                year_in_stage = _NUMERALS[match[3]]
            year = self._school_year - (year_in_stage - 1)
        if year is None:
            return _lost_or(raw, "must be the entry year (e.g. 2024 or 2024级) or a grade (七年级)")
        if not EARLIEST_COHORT <= year <= self._school_year + 1:
            return f"must be an entry year between {EARLIEST_COHORT} and {self._school_year + 1}"
        return year


def _parse_class(raw: str) -> int | str:
    match = _CLASS.match(raw)
    if match is None:
        return _lost_or(raw, "must be the class number, e.g. 3 or 3班")
    number = int(match[1])
    if not 1 <= number <= 99:
        return "must be a class number between 1 and 99"
    return number


def _without_field(error: InvalidArgument) -> str:
    """The domain's message without its "field: " prefix (the report has a field column)."""
    return error.message.removeprefix(f"{error.field}: ")


def _missing_or(value: str, message: str) -> str:
    return "is required" if not value else _lost_or(value, message)


def _lost_or(value: str, message: str) -> str:
    return _LOST_MESSAGE if value.startswith(LOST_DIGITS) else message
