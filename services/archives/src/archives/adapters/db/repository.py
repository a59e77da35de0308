"""PostgreSQL adapters for archives' ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from archives.adapters.db.tables import archives
from archives.domain.model import Archive


class SqlArchives:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_student(self, student_id: UUID) -> Archive | None:
        row = (
            await self._session.execute(select(archives).where(archives.c.student_id == student_id))
        ).first()
        if row is None:
            return None
        return Archive(
            archive_id=row.archive_id,
            student_id=row.student_id,
            school_code=row.school_code,
            county_code=row.county_code,
            opened_at=row.opened_at,
        )

    async def add(self, archive: Archive) -> None:
        await self._session.execute(
            insert(archives).values(
                archive_id=archive.archive_id,
                student_id=archive.student_id,
                school_code=archive.school_code,
                county_code=archive.county_code,
                opened_at=archive.opened_at,
            )
        )

    async def add_missing(self, archives_to_open: Sequence[Archive]) -> int:
        if not archives_to_open:
            return 0
        result = await self._session.execute(
            pg_insert(archives)
            .values(
                [
                    {
                        "archive_id": archive.archive_id,
                        "student_id": archive.student_id,
                        "school_code": archive.school_code,
                        "county_code": archive.county_code,
                        "opened_at": archive.opened_at,
                    }
                    for archive in archives_to_open
                ]
            )
            .on_conflict_do_nothing(index_elements=[archives.c.student_id])
        )
        return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


class SqlArchiveReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlArchives]:
        async with self._sessions() as session, session.begin():
            yield SqlArchives(session)
