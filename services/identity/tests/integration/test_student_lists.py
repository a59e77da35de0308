"""Class lists and head counts straight from PostgreSQL: pages in id order, only enrolled
students, cohorts from the classes table, counts per child unit. In a throwaway schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, text
from throwaway import COUNTY, OTHER_SCHOOL, SCHOOL, two_school_schema

from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import outbox
from identity.domain.matching import MatchOutcome, MatchRequest, StudentMatcher
from identity.domain.model import Gender, SchoolClass, Student
from identity.domain.organisation import Organisation
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.student_lists import StudentLists
from identity.domain.student_number import StudentNumberProtector
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_session_factory
from xinyu_core.messaging import OutboxWriter
from xinyu_core.testing import principal

pytestmark = pytest.mark.integration

CLASSES = (
    SchoolClass.of(SCHOOL, 2024, 1),
    SchoolClass.of(SCHOOL, 2023, 2),
    SchoolClass.of(OTHER_SCHOOL, 2024, 1),
)
NUMBERS = StudentNumberProtector(
    ResidentIdProtector(b"lists-test-key-0123456789"), FieldCipher(bytes(range(32)))
)


@pytest.fixture
async def lists() -> AsyncIterator[StudentLists]:
    async with two_school_schema("lists") as schema:
        units = SqlUnitOfWorkFactory(
            make_session_factory(schema.engine), OutboxWriter(outbox), NUMBERS
        )
        organisation = Organisation(units)
        for school_class in CLASSES:
            await organisation.create_class(
                principal("city_admin", org_unit="360700"),
                school_class.school_code,
                school_class.cohort,
                school_class.number,
            )
        # 4 + 3 + 2 enrolled students, one more who left.
        layout = [(CLASSES[0], 4), (CLASSES[1], 3), (CLASSES[2], 2)]
        async with units() as unit:
            for school_class, count in layout:
                for n in range(count):
                    await unit.students.add(student(school_class, n))
            await unit.students.add(student(CLASSES[0], 99))
        async with schema.engine.begin() as connection:
            await connection.execute(
                text("UPDATE students SET status = 'left' WHERE full_name = '学生99'")
            )
        yield StudentLists(units, clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))


def student(school_class: SchoolClass, n: int) -> Student:
    return Student(
        student_id=uuid.uuid4(),
        student_number=f"G{uuid.uuid4().int % 10**17:017d}X",
        full_name=f"学生{n}",
        school_code=school_class.school_code,
        county_code=COUNTY,
        enrolled_at=datetime(2026, 9, 1, tzinfo=UTC),
        gender=Gender.MALE,
        birth_date=date(2014, 1, 1),
        class_code=school_class.class_code,
    )


async def test_pages_hold_each_enrolled_student_of_the_class_once(lists: StudentLists) -> None:
    service = principal("service")
    first = await lists.list(service, CLASSES[0].class_code, 3, "")
    second = await lists.list(service, CLASSES[0].class_code, 3, first.next_page_token)
    assert len(first.students) == 3
    assert first.next_page_token
    assert len(second.students) == 1
    assert second.next_page_token == ""
    ids = [e.student_id for e in (*first.students, *second.students)]
    assert ids == sorted(ids)
    entry = first.students[0]
    assert (entry.cohort, entry.class_code, entry.school_code) == (
        2024,
        CLASSES[0].class_code,
        SCHOOL,
    )
    assert entry.birth_date == date(2014, 1, 1)
    assert "学生99" not in {e.full_name for e in (*first.students, *second.students)}


async def test_counts_per_child_unit_with_cohorts_and_schools(lists: StudentLists) -> None:
    service = principal("service")
    county = await lists.count(service, COUNTY, [], [])
    assert (county.enrolled, dict(county.children)) == (9, {SCHOOL: 7, OTHER_SCHOOL: 2})
    school = await lists.count(service, SCHOOL, [2024], [])
    assert dict(school.children) == {CLASSES[0].class_code: 4}
    city = await lists.count(service, "360700", [], [OTHER_SCHOOL])
    assert dict(city.children) == {COUNTY: 2}


async def test_a_report_matches_through_the_stored_hashes() -> None:
    """MatchStudent's repository side: the student number and resident ID are found through
    their keyed hashes in PostgreSQL, the clear values never stored."""
    async with two_school_schema("match") as schema:
        protector = ResidentIdProtector(b"lists-test-key-0123456789")
        units = SqlUnitOfWorkFactory(
            make_session_factory(schema.engine), OutboxWriter(outbox), NUMBERS
        )
        first17 = f"{COUNTY}20140101123"
        rid = first17 + check_character(first17)
        stored = replace(
            student(CLASSES[0], 1),
            student_number="G" + rid,
            class_code="",
            resident_id_hash=protector.keyed_hash(rid),
        )
        async with units() as unit:
            await unit.students.add(stored)
        matcher = StudentMatcher(units, protector)
        service = principal("service")
        exact = await matcher.match(service, "G" + rid, rid, "学生1")
        assert exact.outcome is MatchOutcome.EXACT
        assert exact.student is not None
        assert exact.student.student_id == stored.student_id
        assert exact.student.status == "enrolled"
        other = await matcher.match(service, "", rid, "别人")
        assert other.outcome is MatchOutcome.UNCERTAIN


async def test_a_batch_of_reports_matches_in_two_statements() -> None:
    """BatchMatchStudents' repository side: the batch's numbers and resident-ID hashes are each
    looked up in one statement, and every answer is the one MatchStudent gives."""
    async with two_school_schema("batchmatch") as schema:
        protector = ResidentIdProtector(b"lists-test-key-0123456789")
        units = SqlUnitOfWorkFactory(
            make_session_factory(schema.engine), OutboxWriter(outbox), NUMBERS
        )

        def rid(n: int) -> str:
            first17 = f"{COUNTY}20140101{n:03d}"
            return first17 + check_character(first17)

        stored = [
            replace(
                student(CLASSES[0], n),
                student_number="G" + rid(n),
                class_code="",
                resident_id_hash=protector.keyed_hash(rid(n)),
            )
            for n in range(40)
        ]
        # A second student with the first one's resident ID: the ID alone is a conflict.
        twin = replace(
            student(CLASSES[0], 1000), class_code="", resident_id_hash=stored[0].resident_id_hash
        )
        async with units() as unit:
            for each in (*stored, twin):
                await unit.students.add(each)
        requests = [
            MatchRequest("G" + rid(n), rid(n), f"学生{n}") if n < 40 else MatchRequest("", rid(n))
            for n in range(1, 60)
        ] + [MatchRequest("", rid(0)), MatchRequest("G" + rid(2), rid(3)), MatchRequest()]
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(schema.engine.sync_engine, "before_cursor_execute", count)
        try:
            matches = await StudentMatcher(units, protector).match_many(
                principal("service"), requests
            )
        finally:
            event.remove(schema.engine.sync_engine, "before_cursor_execute", count)

        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 2
        assert [m.outcome for m in matches] == (
            [MatchOutcome.EXACT] * 39
            + [MatchOutcome.NONE] * 20
            + [MatchOutcome.UNCERTAIN, MatchOutcome.UNCERTAIN, MatchOutcome.INVALID]
        )
        assert [m.student.student_id for m in matches[:39] if m.student] == [
            s.student_id for s in stored[1:]
        ]
        assert matches[0].student is not None
        assert matches[0].student.student_number == "G" + rid(1)
