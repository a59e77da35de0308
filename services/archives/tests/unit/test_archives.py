from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from archives.domain.model import Archive, StudentEnrolledFact
from archives.domain.use_cases import (
    ArchiveQueries,
    open_archive_on_enrolment,
    open_archives_on_enrolment,
)
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
COUNTY = "360702"


class FakeArchives:
    def __init__(self) -> None:
        self.rows: dict[UUID, Archive] = {}

    async def for_student(self, student_id: UUID) -> Archive | None:
        return self.rows.get(student_id)

    async def add(self, archive: Archive) -> None:
        assert archive.student_id not in self.rows, "one student, one file"
        self.rows[archive.student_id] = archive

    async def add_missing(self, archives: Sequence[Archive]) -> int:
        missing = [a for a in archives if a.student_id not in self.rows]
        for archive in missing:
            await self.add(archive)
        return len(missing)


def fact(student_id: UUID) -> StudentEnrolledFact:
    return StudentEnrolledFact(
        student_id=student_id,
        school_code=SCHOOL,
        county_code=COUNTY,
        enrolled_at=datetime(2026, 9, 1, tzinfo=UTC),
    )


async def test_enrolment_opens_exactly_one_archive() -> None:
    archives = FakeArchives()
    student = uuid4()
    first = await open_archive_on_enrolment(archives, fact(student))
    second = await open_archive_on_enrolment(archives, fact(student))
    assert first == second
    assert list(archives.rows) == [student]
    assert first.school_code == SCHOOL


@pytest.fixture
def queries_and_student() -> tuple[ArchiveQueries, UUID, FakeArchives]:
    archives = FakeArchives()

    @asynccontextmanager
    async def reader() -> AsyncIterator[FakeArchives]:
        yield archives

    return ArchiveQueries(reader), uuid4(), archives


async def test_psych_teacher_of_the_school_reads_the_archive(
    queries_and_student: tuple[ArchiveQueries, UUID, FakeArchives],
) -> None:
    queries, student, archives = queries_and_student
    await open_archive_on_enrolment(archives, fact(student))
    found = await queries.get(principal("psych_teacher", org_unit=SCHOOL), str(student))
    assert found.student_id == student


@pytest.mark.parametrize(
    ("roles", "org_unit"),
    [
        (("psych_teacher",), "3607020002"),
        (("county_counsellor",), "360703"),
        (("head_teacher",), SCHOOL),  # head teachers see follow-up needs, not the file
        (("guardian",), SCHOOL),
    ],
)
async def test_archive_outside_role_or_scope_is_denied(
    queries_and_student: tuple[ArchiveQueries, UUID, FakeArchives],
    roles: tuple[str, ...],
    org_unit: str,
) -> None:
    queries, student, archives = queries_and_student
    await open_archive_on_enrolment(archives, fact(student))
    with pytest.raises(PermissionDenied):
        await queries.get(principal(*roles, org_unit=org_unit), str(student))


async def test_missing_and_malformed(
    queries_and_student: tuple[ArchiveQueries, UUID, FakeArchives],
) -> None:
    queries, student, _ = queries_and_student
    city = principal("city_admin", org_unit="360700")
    with pytest.raises(NotFound):
        await queries.get(city, str(student))
    with pytest.raises(InvalidArgument):
        await queries.get(city, "x")


async def test_a_roster_batch_opens_one_archive_per_student_and_keeps_existing_ones() -> None:
    archives = FakeArchives()
    known, new = uuid4(), [uuid4(), uuid4()]
    existing = await open_archive_on_enrolment(archives, fact(known))

    opened = await open_archives_on_enrolment(archives, [fact(known), *map(fact, new)])

    assert opened == 2
    assert archives.rows[known] == existing
    assert set(archives.rows) == {known, *new}
    assert await open_archives_on_enrolment(archives, [fact(s) for s in new]) == 0
