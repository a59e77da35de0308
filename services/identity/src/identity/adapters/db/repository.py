"""PostgreSQL adapters for identity's ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import Row, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.adapters.db.tables import students
from identity.adapters.messaging.events import OutboxIdentityEvents
from identity.domain.model import Student
from xinyu_core.messaging import OutboxWriter


def _student(row: Row[tuple[object, ...]]) -> Student:
    return Student(
        student_id=row.student_id,
        student_number=row.student_number,
        full_name=row.full_name,
        school_code=row.school_code,
        county_code=row.county_code,
        enrolled_at=row.enrolled_at,
    )


class SqlStudents:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_number(self, student_number: str) -> Student | None:
        row = (
            await self._session.execute(
                select(students).where(students.c.student_number == student_number)
            )
        ).first()
        return _student(row) if row else None

    async def by_id(self, student_id: UUID) -> Student | None:
        row = (
            await self._session.execute(select(students).where(students.c.student_id == student_id))
        ).first()
        return _student(row) if row else None

    async def add(self, student: Student) -> None:
        await self._session.execute(
            insert(students).values(
                student_id=student.student_id,
                student_number=student.student_number,
                full_name=student.full_name,
                school_code=student.school_code,
                county_code=student.county_code,
                enrolled_at=student.enrolled_at,
            )
        )


class SqlUnitOfWork:
    def __init__(self, session: AsyncSession, outbox: OutboxWriter) -> None:
        self.students = SqlStudents(session)
        self.events = OutboxIdentityEvents(session, outbox)


class SqlUnitOfWorkFactory:
    """One transaction per use case: state and its events commit together or not at all."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: OutboxWriter) -> None:
        self._sessions = sessions
        self._outbox = outbox

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._sessions() as session, session.begin():
            yield SqlUnitOfWork(session, self._outbox)
