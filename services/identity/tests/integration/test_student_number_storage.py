"""A student enrolled through the use case and the PostgreSQL repository leaves neither their
student number nor the resident ID inside it readable in the ``students`` row, yet reads back
whole through the domain. In a throwaway schema, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
import pytest
from throwaway import COUNTY, DATABASE_URL, OTHER_SCHOOL, SCHOOL, two_school_schema

from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import outbox
from identity.domain.model import Enrolment, Gender
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.student_number import StudentNumberProtector
from identity.domain.use_cases import StudentDirectory
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_session_factory
from xinyu_core.errors import AlreadyExists
from xinyu_core.messaging import OutboxWriter
from xinyu_core.testing import principal

pytestmark = pytest.mark.integration

FIRST17 = f"{COUNTY}20150101123"
RESIDENT_ID = FIRST17 + check_character(FIRST17)
NUMBER = "G" + RESIDENT_ID
ADMIN = principal("school_admin", org_unit=SCHOOL)
OTHER_ADMIN = principal("school_admin", org_unit=OTHER_SCHOOL)
NUMBERS = StudentNumberProtector(
    ResidentIdProtector(b"storage-test-key-0123456789"), FieldCipher(bytes(range(32)))
)


@dataclass
class World:
    schema: str
    directory: StudentDirectory


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with two_school_schema("numbers") as schema:
        units = SqlUnitOfWorkFactory(
            make_session_factory(schema.engine), OutboxWriter(outbox), NUMBERS
        )
        directory = StudentDirectory(
            units,
            ResidentIdProtector(b"storage-test-key-0123456789"),
            clock=lambda: datetime(2026, 9, 1, tzinfo=UTC),
        )
        yield World(schema.name, directory)


def enrolment(school: str = SCHOOL) -> Enrolment:
    return Enrolment(
        student_number=NUMBER,
        full_name="测试学生",
        school_code=school,
        county_code=COUNTY,
        gender=Gender.MALE,
        birth_date=date(2015, 1, 1),
        resident_id=RESIDENT_ID,
    )


async def test_the_stored_row_gives_away_neither_number_nor_resident_id(world: World) -> None:
    student, created = await world.directory.enrol(ADMIN, enrolment())
    assert created

    conninfo = DATABASE_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, options=f"-csearch_path={world.schema}") as connection:
        cursor = connection.execute("SELECT * FROM students")
        rows = cursor.fetchall()
        names = [column.name for column in cursor.description or ()]
    assert len(rows) == 1
    row = dict(zip(names, rows[0], strict=True))
    assert "student_number" not in row
    # Every column, as text and (for bytes) as the bytes themselves.
    for name, value in row.items():
        shown = value.hex() if isinstance(value, bytes) else str(value)
        for secret in (NUMBER, RESIDENT_ID):
            assert secret not in shown, name
            if isinstance(value, bytes):
                assert secret.encode() not in value, name
    assert row["student_number_hash"] == NUMBERS.keyed_hash(NUMBER)
    assert row["student_number_masked"] == "G360702********" + NUMBER[-4:]
    assert NUMBERS.reveal(row["student_number_cipher"]) == NUMBER

    # Readers still get the number back, through the domain Student.
    read = await world.directory.get(ADMIN, str(student.student_id))
    assert read.student_number == NUMBER
    # And matching by hash keeps enrolment idempotent and transfers apart.
    again, created = await world.directory.enrol(ADMIN, enrolment())
    assert (again.student_id, created) == (student.student_id, False)
    with pytest.raises(AlreadyExists):
        await world.directory.enrol(OTHER_ADMIN, enrolment(OTHER_SCHOOL))
