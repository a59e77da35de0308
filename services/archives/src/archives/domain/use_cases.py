"""Opening and reading archives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID, uuid4

from archives.domain.model import Archive, StudentEnrolledFact
from archives.domain.ports import ArchiveReader, ArchiveRepository
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, NotFound
from xinyu_core.scope import require_school_scope

# Who may open a file at all; scope (school, county, city) narrows it further (DOMAIN.md §2).
ARCHIVE_READERS = ("psych_teacher", "school_admin", "county_counsellor", "city_admin", "service")


async def open_archive_on_enrolment(
    archives: ArchiveRepository,
    fact: StudentEnrolledFact,
    new_id: Callable[[], UUID] = uuid4,
) -> Archive:
    """Every enrolled student has exactly one file (R3): opening is idempotent per student."""
    existing = await archives.for_student(fact.student_id)
    if existing is not None:
        return existing
    archive = Archive(
        archive_id=new_id(),
        student_id=fact.student_id,
        school_code=fact.school_code,
        county_code=fact.county_code,
        opened_at=fact.enrolled_at,
    )
    await archives.add(archive)
    return archive


async def open_archives_on_enrolment(
    archives: ArchiveRepository,
    facts: Sequence[StudentEnrolledFact],
    new_id: Callable[[], UUID] = uuid4,
) -> int:
    """A roster import's batch: every student in it gets their one file (R3), those who have
    one keep it. Returns how many files were opened."""
    return await archives.add_missing(
        [
            Archive(
                archive_id=new_id(),
                student_id=fact.student_id,
                school_code=fact.school_code,
                county_code=fact.county_code,
                opened_at=fact.enrolled_at,
            )
            for fact in facts
        ]
    )


class ArchiveQueries:
    def __init__(self, reader: ArchiveReader) -> None:
        self._reader = reader

    async def get(self, principal: Principal, student_id: str) -> Archive:
        principal.require_any_role(*ARCHIVE_READERS)
        try:
            wanted = UUID(student_id)
        except ValueError as error:
            raise InvalidArgument("student_id", "must be a UUID") from error
        async with self._reader() as archives:
            archive = await archives.for_student(wanted)
        if archive is None:
            raise NotFound("no archive for this student")
        require_school_scope(
            principal, school_code=archive.school_code, county_code=archive.county_code
        )
        return archive
