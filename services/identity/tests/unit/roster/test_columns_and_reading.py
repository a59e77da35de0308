"""Headers, encodings and both file formats, without a database."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from identity.roster.columns import HeaderProblem, map_columns
from identity.roster.model import RosterFormat
from identity.roster.reading import UnreadableFile, read_rows
from identity.roster.values import LOST_DIGITS

HEADER = "学籍号,姓名,性别,出生日期,身份证件号,学校标识码,入学年份,班级\n"
ROW = "G360702201201010014,张三,男,2012-01-01,360702201201010014,3607020001,2024,3\n"


def chunks(data: bytes, size: int = 7) -> Callable[[], bytes]:
    pieces = iter([data[i : i + size] for i in range(0, len(data), size)])
    return lambda: next(pieces, b"")


def rows_of(
    data: bytes, fmt: RosterFormat = RosterFormat.CSV
) -> tuple[list[str], list[tuple[int, Sequence[str]]]]:
    parsed = read_rows(fmt, chunks(data), len(data))
    return parsed.header, list(parsed.rows)


def test_registry_headers_map_to_fields() -> None:
    columns = map_columns(HEADER.strip().split(","))
    assert columns.index == {
        "student_number": 0,
        "full_name": 1,
        "gender": 2,
        "birth_date": 3,
        "resident_id": 4,
        "school_code": 5,
        "cohort": 6,
        "class": 7,
    }


def test_english_aliases_required_markers_and_unknown_columns() -> None:
    columns = map_columns(["*Student_Number", "民族", "Name", " school_code ", "grade", "Class"])
    assert columns.index == {
        "student_number": 0,
        "full_name": 2,
        "school_code": 3,
        "cohort": 4,
        "class": 5,
    }


def test_a_missing_required_column_names_the_field() -> None:
    with pytest.raises(HeaderProblem) as raised:
        map_columns(["学籍号", "性别", "学校标识码"])
    assert raised.value.field == "full_name"


def test_a_field_in_two_columns_is_refused() -> None:
    with pytest.raises(HeaderProblem) as raised:
        map_columns(["学籍号", "姓名", "学生姓名", "学校标识码"])
    assert raised.value.field == "full_name"


def test_a_class_without_an_entry_year_column_is_refused() -> None:
    with pytest.raises(HeaderProblem) as raised:
        map_columns(["学籍号", "姓名", "学校标识码", "班级"])
    assert raised.value.field == "cohort"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_the_encodings_excel_writes(encoding: str) -> None:
    header, rows = rows_of((HEADER + ROW + ROW).encode(encoding))
    assert header[1] == "姓名"
    assert rows == [(2, ROW.strip().split(",")), (3, ROW.strip().split(","))]


def test_blank_rows_keep_their_number_but_are_skipped() -> None:
    _, rows = rows_of((HEADER + "\n,,,,,,,\n" + ROW).encode())
    assert [row for row, _ in rows] == [4]


def test_tab_separated_text_and_quoted_fields() -> None:
    data = HEADER.replace(",", "\t") + '"G360702201201010014"\t"张,三"\t男\n'
    _, rows = rows_of(data.encode())
    assert rows == [(2, ["G360702201201010014", "张,三", "男"])]


def test_an_empty_or_binary_file_is_unreadable() -> None:
    with pytest.raises(UnreadableFile):
        rows_of(b"")
    with pytest.raises(UnreadableFile):
        rows_of(b"\x00\x01\x02", RosterFormat.XLSX)


def test_xlsx_rows_come_back_as_csv_text() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["学籍号", "姓名", "出生日期", "身份证件号", "学校标识码", "入学年份", "班级"])
    sheet.append(
        [
            "G360702201201010014",
            "张三",
            datetime(2012, 1, 1),
            360702201201010014,
            3607020001,
            2024,
            3,
        ]
    )
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(
        [
            "G360702201201010022",
            "李四",
            date(2012, 1, 1),
            "36070220120101002X",
            "3607020001",
            "2024级",
            "3班",
        ]
    )
    out = io.BytesIO()
    book.save(out)

    header, rows = rows_of(out.getvalue(), RosterFormat.XLSX)

    assert header[0] == "学籍号"
    assert rows == [
        (2, ["G360702201201010014", "张三", "2012-01-01", LOST_DIGITS, "3607020001", "2024", "3"]),
        (
            4,
            [
                "G360702201201010022",
                "李四",
                "2012-01-01",
                "36070220120101002X",
                "3607020001",
                "2024级",
                "3班",
            ],
        ),
    ]
