"""The job rows, as the RPCs see them (async, short transactions)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.adapters.db.tables import org_units, schools
from identity.roster.model import (
    MAX_FILE_BYTES,
    Counts,
    JobStatus,
    RosterFormat,
    RosterJob,
    RowError,
)
from identity.roster.tables import roster_import_chunks, roster_import_errors, roster_imports
from xinyu_core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


def job_of(row: Any, errors: tuple[RowError, ...] = ()) -> RosterJob:
    return RosterJob(
        job_id=row.job_id,
        scope_code=row.scope_code,
        county_code=row.county_code,
        format=RosterFormat(row.format),
        status=JobStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        chunks_received=row.chunks_received,
        bytes_received=row.bytes_received,
        counts=Counts(
            rows_total=row.rows_total,
            rows_validated=row.rows_validated,
            rows_applied=row.rows_applied,
            rows_created=row.rows_created,
            rows_updated=row.rows_updated,
            rows_unchanged=row.rows_unchanged,
        ),
        progress_percent=row.progress_percent,
        error_count=row.error_count,
        failure=row.failure,
        finished_at=row.finished_at,
        errors=errors,
    )


class RosterJobs:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def county_of_school(self, school_code: str) -> str | None:
        async with self._sessions() as session:
            found = await session.scalar(
                select(org_units.c.county_code)
                .select_from(schools.join(org_units, org_units.c.code == schools.c.school_code))
                .where(schools.c.school_code == school_code)
            )
        return str(found) if found is not None else None

    async def create(
        self, job_id: UUID, scope_code: str, county_code: str, fmt: RosterFormat, created_by: str
    ) -> RosterJob:
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    insert(roster_imports)
                    .values(
                        job_id=job_id,
                        scope_code=scope_code,
                        county_code=county_code,
                        format=fmt.value,
                        status=JobStatus.RECEIVING.value,
                        created_by=created_by,
                    )
                    .returning(roster_imports)
                )
            ).one()
        return job_of(row)

    async def get(self, job_id: UUID, max_errors: int) -> RosterJob | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(roster_imports).where(roster_imports.c.job_id == job_id)
                )
            ).first()
            if row is None:
                return None
            errors = (
                await session.execute(
                    select(
                        roster_import_errors.c.row,
                        roster_import_errors.c.field,
                        roster_import_errors.c.message,
                    )
                    .where(roster_import_errors.c.job_id == job_id)
                    .order_by(roster_import_errors.c.position)
                    .limit(max_errors)
                )
            ).all()
        return job_of(row, tuple(RowError(e.row, e.field, e.message) for e in errors))

    async def append(self, job_id: UUID, sequence: int, data: bytes) -> tuple[bool, int]:
        """Stores one chunk; returns (was it a repeat, bytes received so far). A repeat with
        the same bytes is answered as a success, so a client may resend after a timeout."""
        digest = hashlib.sha256(data).digest()
        async with self._sessions() as session, session.begin():
            job = (
                await session.execute(
                    select(roster_imports.c.status, roster_imports.c.bytes_received)
                    .where(roster_imports.c.job_id == job_id)
                    .with_for_update()
                )
            ).first()
            if job is None:
                raise NotFound("no such roster import")
            existing = await session.scalar(
                select(roster_import_chunks.c.digest).where(
                    roster_import_chunks.c.job_id == job_id,
                    roster_import_chunks.c.sequence == sequence,
                )
            )
            if existing is not None:
                if bytes(existing) != digest:
                    raise AlreadyExists("this sequence was received with different content")
                return True, int(job.bytes_received)
            if job.status != JobStatus.RECEIVING.value:
                raise FailedPrecondition("the roster import no longer accepts chunks")
            if job.bytes_received + len(data) > MAX_FILE_BYTES:
                raise InvalidArgument("data", f"the file may be at most {MAX_FILE_BYTES} bytes")
            await session.execute(
                pg_insert(roster_import_chunks)
                .values(job_id=job_id, sequence=sequence, digest=digest, data=data)
                .on_conflict_do_nothing()
            )
            received = int(
                (
                    await session.execute(
                        update(roster_imports)
                        .where(roster_imports.c.job_id == job_id)
                        .values(
                            chunks_received=roster_imports.c.chunks_received + 1,
                            bytes_received=roster_imports.c.bytes_received + len(data),
                            updated_at=func.now(),
                        )
                        .returning(roster_imports.c.bytes_received)
                    )
                ).scalar_one()
            )
        return False, received

    async def begin(self, job_id: UUID, chunk_count: int) -> tuple[RosterJob, bool]:
        """receiving → validating, once; returns the job and whether this call started it."""
        async with self._sessions() as session, session.begin():
            sequences = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(func.max(roster_import_chunks.c.sequence), -1),
                    ).where(roster_import_chunks.c.job_id == job_id)
                )
            ).one()
            row = (
                await session.execute(
                    update(roster_imports)
                    .where(
                        and_(
                            roster_imports.c.job_id == job_id,
                            roster_imports.c.status == JobStatus.RECEIVING.value,
                        )
                    )
                    .values(status=JobStatus.VALIDATING.value, updated_at=func.now())
                    .returning(roster_imports)
                )
            ).first()
            if row is not None:
                count, highest = int(sequences[0]), int(sequences[1])
                if count == 0:
                    raise FailedPrecondition("no chunk has been received")
                if count != highest + 1 or (chunk_count and chunk_count != count):
                    raise FailedPrecondition("chunks are missing; resend them, then commit")
                return job_of(row), True
        found = await self.get(job_id, 0)
        if found is None:
            raise NotFound("no such roster import")
        return found, False

    async def fail_if_stale(self, job_id: UUID, cutoff: datetime) -> None:
        """A running job that stopped reporting progress was interrupted (its process ended);
        its transaction was rolled back with the connection, so nothing was applied."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(roster_imports)
                .where(
                    roster_imports.c.job_id == job_id,
                    roster_imports.c.status.in_(
                        [JobStatus.VALIDATING.value, JobStatus.APPLYING.value]
                    ),
                    roster_imports.c.updated_at < cutoff,
                )
                .values(
                    status=JobStatus.FAILED.value,
                    failure="the import was interrupted and nothing was applied; start again",
                    finished_at=func.now(),
                    updated_at=func.now(),
                )
            )
            await session.execute(
                delete(roster_import_chunks).where(
                    roster_import_chunks.c.job_id == job_id,
                    roster_import_chunks.c.job_id.in_(
                        select(roster_imports.c.job_id).where(
                            roster_imports.c.job_id == job_id,
                            roster_imports.c.status == JobStatus.FAILED.value,
                        )
                    ),
                )
            )
