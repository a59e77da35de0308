"""Rotating the field encryption key against PostgreSQL: values made under the old key still
read through the new cipher, ``rotate_student_numbers`` re-encrypts every row under the new
one, and afterwards the old key is no longer needed."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import text
from throwaway import COUNTY, SCHOOL, two_school_schema

from identity.adapters.db.key_rotation import remaining, rotate_student_numbers
from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import outbox
from identity.domain.model import Student
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.student_number import StudentNumberProtector
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_session_factory
from xinyu_core.messaging import OutboxWriter

pytestmark = pytest.mark.integration

HASHER = ResidentIdProtector(b"rotation-test-key-0123456789")
OLD_KEY, NEW_KEY = bytes(range(32)), bytes(range(50, 82))


def student(n: int) -> Student:
    return Student(
        uuid4(), f"G36070220140101{n:03d}X", f"学生{n}", SCHOOL, COUNTY,
        datetime(2026, 9, 1, tzinfo=UTC),
    )  # fmt: skip


async def test_every_number_moves_to_the_new_key_and_still_reads() -> None:
    async with two_school_schema("rotation") as schema:
        sessions = make_session_factory(schema.engine)
        old = FieldCipher(OLD_KEY, key_id=1)
        written = [student(n) for n in range(7)]
        async with SqlUnitOfWorkFactory(
            sessions, OutboxWriter(outbox), StudentNumberProtector(HASHER, old)
        )() as unit:
            for s in written:
                await unit.students.add(s)
        new = FieldCipher(NEW_KEY, key_id=2, previous={1: OLD_KEY})
        reading = SqlUnitOfWorkFactory(
            sessions, OutboxWriter(outbox), StudentNumberProtector(HASHER, new)
        )
        async with reading() as unit:
            # Before the rotation the new cipher reads the old values through key 1.
            assert (await unit.students.by_id(written[0].student_id)) is not None
        assert await remaining(schema.engine, new) == 7

        report = await rotate_student_numbers(schema.engine, new, batch=3)

        assert (report.reencrypted, report.remaining) == (7, 0)
        async with schema.engine.connect() as connection:
            ids = (
                await connection.execute(
                    text("SELECT DISTINCT get_byte(student_number_cipher, 0) FROM students")
                )
            ).scalars()
            assert list(ids) == [2]
        # The old key can go: the current one alone reads every number.
        only_new = SqlUnitOfWorkFactory(
            sessions,
            OutboxWriter(outbox),
            StudentNumberProtector(HASHER, FieldCipher(NEW_KEY, key_id=2)),
        )
        async with only_new() as unit:
            for s in written:
                found = await unit.students.by_number(s.student_number)
                assert found is not None
                assert found.student_number == s.student_number
        again = await rotate_student_numbers(schema.engine, new)
        assert (again.reencrypted, again.remaining) == (0, 0)
