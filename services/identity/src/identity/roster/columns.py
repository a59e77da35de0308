"""The registry's column headers, and the English names a hand-made file may use instead.

Exports of the national student registry (全国中小学生学籍信息管理系统) carry thirty-odd
columns; the import reads the ones below and ignores the rest, so nothing it does not need
(ethnicity, household registration, guardians' phones…) is ever stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

STUDENT_NUMBER = "student_number"
FULL_NAME = "full_name"
GENDER = "gender"
BIRTH_DATE = "birth_date"
RESIDENT_ID = "resident_id"
ID_TYPE = "id_type"
SCHOOL_CODE = "school_code"
COHORT = "cohort"
CLASS = "class"

# Field → accepted headers, compared after removing spaces, "*" required-markers and case.
ALIASES: dict[str, tuple[str, ...]] = {
    STUDENT_NUMBER: (
        "学籍号",
        "全国学籍号",
        "学籍编号",
        "学生学籍号",
        "student_number",
        "student_no",
    ),
    FULL_NAME: ("姓名", "学生姓名", "full_name", "name"),
    GENDER: ("性别", "gender", "sex"),
    BIRTH_DATE: ("出生日期", "birth_date", "date_of_birth", "birthday"),
    RESIDENT_ID: (
        "身份证件号",
        "身份证号",
        "身份证号码",
        "身份证件号码",
        "公民身份号码",
        "resident_id",
        "id_number",
    ),
    ID_TYPE: ("身份证件类型", "证件类型", "id_type"),
    SCHOOL_CODE: ("学校标识码", "学校代码", "school_code"),
    # 入学年份 is the entry year; 年级 holds either a year ("2024级") or a grade ("七年级").
    COHORT: ("入学年份", "入学年月", "年级", "届别", "cohort", "entry_year", "grade"),
    CLASS: ("班级", "班号", "班级号", "class", "class_number"),
}
REQUIRED = (STUDENT_NUMBER, FULL_NAME, SCHOOL_CODE)

_NOISE = re.compile(r"[\s*＊:：]+")


def _key(header: str) -> str:
    return _NOISE.sub("", header.replace("\ufeff", "")).lower()


_FIELD_OF_HEADER = {_key(alias): name for name, aliases in ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class ColumnMap:
    """Field name → index of its column in each row."""

    index: dict[str, int]

    def __contains__(self, name: str) -> bool:
        return name in self.index


class HeaderProblem(ValueError):
    """The header row cannot be used; ``field`` names the column concerned."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def map_columns(header: Sequence[object]) -> ColumnMap:
    """Finds the columns the import reads. Unknown columns are ignored; a known one twice is an
    error (which would win?), and so is a missing required one."""
    index: dict[str, int] = {}
    for position, cell in enumerate(header):
        name = _FIELD_OF_HEADER.get(_key(str(cell))) if cell is not None else None
        if name is None:
            continue
        if name in index:
            raise HeaderProblem(name, "more than one column holds this field")
        index[name] = position
    for name in REQUIRED:
        if name not in index:
            expected = ", ".join(ALIASES[name])
            raise HeaderProblem(name, f"column missing (expected one of: {expected})")
    if CLASS in index and COHORT not in index:
        raise HeaderProblem(COHORT, "a class column needs an entry-year (入学年份) column too")
    return ColumnMap(index)
