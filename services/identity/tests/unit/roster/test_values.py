"""Every field's rule, and that every error names the row and the field but not the value."""

from __future__ import annotations

import random
from datetime import date

import pytest

from identity.domain import resident_id
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.student_number import StudentNumberProtector
from identity.roster.columns import map_columns
from identity.roster.values import (
    LOST_DIGITS,
    STAGING_COLUMNS,
    ErrorLog,
    ResidentIdShape,
    RowChecker,
    school_year_start,
)
from xinyu_core.crypto import FieldCipher
from xinyu_core.errors import InvalidArgument

HEADER = ["学籍号", "姓名", "性别", "出生日期", "身份证件号", "学校标识码", "入学年份", "班级"]
SCHOOL = "3607020001"
OTHER = "3607030001"
PROTECTOR = ResidentIdProtector(b"unit-test-key-0123456789")
NUMBERS = StudentNumberProtector(PROTECTOR, FieldCipher(bytes(range(32))))
RID = "360702201201010015"  # male (1 is odd), born 2012-01-01


def checker(header: list[str] = HEADER, limit: int = 100) -> tuple[RowChecker, ErrorLog]:
    errors = ErrorLog(limit)
    return (
        RowChecker(
            map_columns(header),
            schools={SCHOOL: "360702", OTHER: "360703"},
            in_scope={SCHOOL},
            protector=PROTECTOR,
            numbers=NUMBERS,
            today=date(2026, 3, 2),
            errors=errors,
        ),
        errors,
    )


def row(**overrides: str) -> list[str]:
    values = {
        "number": "G" + RID,
        "name": " 张三 ",
        "gender": "男",
        "birth": "2012-01-01",
        "rid": RID,
        "school": SCHOOL,
        "cohort": "2024",
        "class": "3",
    }
    values.update(overrides)
    return list(values.values())


def staged(line: str) -> dict[str, str]:
    return dict(zip(STAGING_COLUMNS, line.rstrip("\n").split("\t"), strict=True))


def test_a_valid_row_is_staged_with_the_resident_id_hashed_and_masked() -> None:
    check, errors = checker()
    line = check.check(2, row())
    assert line is not None
    assert errors.count == 0
    fields = staged(line)
    cipher = fields.pop("student_number_cipher")
    # bytea in COPY text: a doubled backslash, x, and the hex of nonce + ciphertext + tag.
    assert cipher.startswith("\\\\x")
    assert NUMBERS.reveal(bytes.fromhex(cipher[3:])) == "G" + RID
    assert fields == {
        "row_no": "2",
        "student_number_hash": PROTECTOR.keyed_hash("G" + RID),
        "student_number_masked": "G360702********0015",
        "full_name": "张三",
        "gender": "male",
        "birth_date": "2012-01-01",
        "resident_id_hash": PROTECTOR.keyed_hash(RID),
        "resident_id_masked": "360702********0015",
        "school_code": SCHOOL,
        "county_code": "360702",
        "class_code": f"{SCHOOL}-2024-03",
    }
    assert check.classes == {(SCHOOL, 2024, 3)}
    # Only hashes, ciphertext and masks: neither the resident ID nor the G-form student
    # number that contains it is staged in clear.
    assert RID not in line


def test_optional_cells_left_blank_are_staged_as_null() -> None:
    check, _ = checker()
    line = check.check(2, row(gender="", birth="", rid="", cohort="", **{"class": ""}))
    assert line is not None
    fields = staged(line)
    assert [
        fields[name] for name in ("gender", "birth_date", "resident_id_hash", "class_code")
    ] == ["\\N"] * 4


BAD_CELLS = [
    ({"number": ""}, "student_number", "is required"),
    ({"number": "X12345"}, "student_number", "must be a letter G"),
    ({"name": "  "}, "full_name", "must be 1 to 50"),
    ({"name": "张" * 51}, "full_name", "must be 1 to 50"),
    ({"name": "张\t三"}, "full_name", "control characters"),
    ({"gender": "未知"}, "gender", "must be 男 or 女"),
    ({"birth": "2012-02-30"}, "birth_date", "must be a past date"),
    ({"birth": "1985-01-01", "rid": ""}, "birth_date", "must be a past date"),
    ({"birth": "2012-01-02"}, "birth_date", "does not match the date of birth"),
    ({"gender": "女"}, "gender", "does not match the gender digit"),
    ({"rid": "36070220120101001"}, "resident_id", "must be 17 digits"),
    ({"rid": "360702201201010014"}, "resident_id", "check digit does not match"),
    ({"rid": LOST_DIGITS}, "resident_id", "stored as a number"),
    ({"school": "12345"}, "school_code", "must be the school's 10-digit code"),
    ({"school": "3607029999"}, "school_code", "no such school is registered"),
    ({"school": OTHER}, "school_code", "outside this import's scope"),
    ({"cohort": "明年"}, "cohort", "must be the entry year"),
    ({"cohort": "2031"}, "cohort", "between 1990 and 2026"),
    ({"cohort": ""}, "cohort", "required when a class is given"),
    ({"class": "三班"}, "class", "must be the class number"),
    ({"class": "0"}, "class", "between 1 and 99"),
]


@pytest.mark.parametrize(("cells", "field", "message"), BAD_CELLS)
def test_each_bad_cell_is_an_error_naming_row_and_field(
    cells: dict[str, str], field: str, message: str
) -> None:
    check, errors = checker()
    assert check.check(7, row(**cells)) is None
    assert [(error.row, error.field) for error in errors.kept] == [(7, field)]
    assert message in errors.kept[0].message
    for value in cells.values():
        if len(value) > 2:
            assert value not in errors.kept[0].message


def test_a_row_with_several_problems_reports_each() -> None:
    check, errors = checker()
    assert check.check(3, row(number="bad", gender="?", school="1")) is None
    assert [error.field for error in errors.kept] == ["student_number", "gender", "school_code"]


def test_a_short_row_is_padded_and_reported_not_crashed() -> None:
    check, errors = checker()
    assert check.check(4, ["G" + RID, "张三"]) is None
    assert [error.field for error in errors.kept] == ["school_code"]


def test_repeats_inside_the_file_name_the_first_row() -> None:
    check, errors = checker()
    assert check.check(2, row()) is not None
    assert check.check(3, row()) is None
    assert [(e.row, e.field, e.message) for e in errors.kept] == [
        (3, "student_number", "appears more than once (first at row 2)"),
        (3, "resident_id", "the same resident ID is at row 2"),
    ]


def test_the_error_log_keeps_the_first_errors_and_counts_all() -> None:
    check, errors = checker(limit=2)
    for n in range(5):
        check.check(n + 2, row(number="bad", rid=""))
    assert errors.count == 5
    assert [error.row for error in errors.kept] == [2, 3]


@pytest.mark.parametrize(
    ("raw", "cohort"),
    [
        ("2024", 2024),
        ("2024级", 2024),
        ("2024届", 2024),
        ("202409", 2024),
        ("2024-09", 2024),
        ("2024年9月", 2024),
        ("七年级", 2025),
        ("九年级", 2023),
        ("一年级", 2025),
        ("初二", 2024),
        ("高三", 2023),
        ("高一年级", 2025),
    ],
)
def test_entry_years_and_grades(raw: str, cohort: int) -> None:
    check, errors = checker()
    line = check.check(2, row(cohort=raw))
    assert line is not None, errors.kept
    assert staged(line)["class_code"] == f"{SCHOOL}-{cohort}-03"


@pytest.mark.parametrize("raw", ["3", "03", "3班", "(3)班", "（3）班", "2024级3班", "七年级3班"])
def test_class_labels(raw: str) -> None:
    check, _ = checker()
    line = check.check(2, row(**{"class": raw}))
    assert line is not None
    assert staged(line)["class_code"].endswith("-03")


@pytest.mark.parametrize(
    ("raw", "gender"), [("男", "male"), ("女", "female"), ("1", "male"), ("F", "female")]
)
def test_gender_spellings(raw: str, gender: str) -> None:
    check, _ = checker()
    rid = RID if gender == "male" else "360702201201010023"
    line = check.check(2, row(gender=raw, rid=rid))
    assert line is not None
    assert staged(line)["gender"] == gender


def test_other_id_types_are_neither_validated_nor_stored() -> None:
    check, errors = checker([*HEADER, "身份证件类型"])
    line = check.check(2, [*row(rid="E12345678"), "护照"])
    assert line is not None, errors.kept
    assert staged(line)["resident_id_hash"] == "\\N"


def test_the_fast_resident_id_check_agrees_with_the_domain_rule() -> None:
    fast = ResidentIdShape()
    generator = random.Random(11643)
    for _ in range(3000):
        first17 = "".join(generator.choice("0123456789") for _ in range(17))
        for last in (check_character(first17), generator.choice("0123456789X")):
            raw = first17 + last
            try:
                expected: str | None = resident_id.normalise(raw)
            except InvalidArgument:
                expected = None
            try:
                found: str | None = fast.normalise(raw)
            except InvalidArgument:
                found = None
            assert found == expected
    assert fast.normalise(" 36070220120101004x ") == "36070220120101004X"


def test_school_years_start_in_september() -> None:
    assert school_year_start(date(2026, 3, 2)) == 2025
    assert school_year_start(date(2026, 9, 1)) == 2026
