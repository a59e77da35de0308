"""A student enrolled through the use case and the PostgreSQL repository leaves neither their
student number nor the resident ID inside it readable in the ``students`` row, yet reads back
whole through the domain. In a throwaway schema, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import metadata, outbox
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

DATABASE_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
COUNTY = "360702"
SCHOOL = "3607020001"
OTHER_SCHOOL = "3607020002"
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
    schema = f"tests_numbers_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(DATABASE_URL, connect_args={"options": f"-csearch_path={schema}"})
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(
                text(
                    "INSERT INTO org_units (code, kind, name, parent_code, county_code,"
                    " school_code) VALUES ('360700', 'city', '赣州市', NULL, NULL, NULL),"
                    " (:county, 'county', '章贡区', '360700', :county, NULL),"
                    " (:a, 'school', '一中', :county, :county, :a),"
                    " (:b, 'school', '二中', :county, :county, :b)"
                ),
                {"county": COUNTY, "a": SCHOOL, "b": OTHER_SCHOOL},
            )
            await connection.execute(
                text(
                    "INSERT INTO schools (school_code, school_type)"
                    " VALUES (:a, 'junior'), (:b, 'junior')"
                ),
                {"a": SCHOOL, "b": OTHER_SCHOOL},
            )
        units = SqlUnitOfWorkFactory(make_session_factory(engine), OutboxWriter(outbox), NUMBERS)
        directory = StudentDirectory(
            units,
            ResidentIdProtector(b"storage-test-key-0123456789"),
            clock=lambda: datetime(2026, 9, 1, tzinfo=UTC),
        )
        yield World(schema, directory)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


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
