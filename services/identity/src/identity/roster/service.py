"""The roster import's use cases: who may import where, and the job's life.

A job is started for a scope (a school, a county, the city), receives the file in chunks,
and is committed; the import then runs in the background and the job row tells how far it
got. Only the person who started a job may add to it or commit it; anyone who may import for
its scope may read its report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from identity.domain.model import CITY_CODE
from identity.domain.organisation import require_unit_scope
from identity.roster.importer import Connect, RosterImporter
from identity.roster.model import MAX_CHUNK_BYTES, MAX_KEPT_ERRORS, RosterFormat, RosterJob
from identity.roster.run import run_job, start_thread
from identity.roster.store import RosterJobs
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied

IMPORTING_ROLES = ("school_admin", "county_admin", "city_admin", "service")
# A running job touches its row at least every few seconds; ten silent minutes mean its
# process is gone.
STALE_AFTER = timedelta(minutes=10)
_COUNTY = re.compile(r"^3607\d{2}$")
_SCHOOL = re.compile(r"^\d{10}$")

Launch = Callable[[RosterJob], None]


def parse_job_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument("job_id", "must be a UUID") from None


class RosterImports:
    def __init__(
        self,
        jobs: RosterJobs,
        launch: Launch,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._jobs = jobs
        self._launch = launch
        self._clock = clock
        self._new_id = new_id

    async def start(self, principal: Principal, fmt: RosterFormat, scope_code: str) -> RosterJob:
        principal.require_any_role(*IMPORTING_ROLES)
        scope = scope_code.strip() or principal.org_unit
        county = await self._county_of_scope(scope)
        require_unit_scope(principal, scope, county)
        return await self._jobs.create(self._new_id(), scope, county, fmt, principal.subject)

    async def append(
        self, principal: Principal, job_id: str, sequence: int, data: bytes
    ) -> tuple[bool, int]:
        if not data:
            raise InvalidArgument("data", "must not be empty")
        if len(data) > MAX_CHUNK_BYTES:
            raise InvalidArgument("data", f"a chunk may be at most {MAX_CHUNK_BYTES} bytes")
        if sequence < 0:
            raise InvalidArgument("sequence", "must not be negative")
        job = await self._own_job(principal, job_id)
        return await self._jobs.append(job.job_id, sequence, data)

    async def commit(self, principal: Principal, job_id: str, chunk_count: int) -> RosterJob:
        """Starts the import in the background; committing again only reports on it."""
        job = await self._own_job(principal, job_id)
        started, first = await self._jobs.begin(job.job_id, chunk_count)
        if first:
            self._launch(started)
        return started

    async def get(self, principal: Principal, job_id: str, max_errors: int) -> RosterJob:
        wanted = parse_job_id(job_id)
        limit = min(max_errors, MAX_KEPT_ERRORS) if max_errors > 0 else 100
        job = await self._jobs.get(wanted, limit)
        if job is None:
            raise NotFound("no such roster import")
        if job.created_by != principal.subject:
            principal.require_any_role(*IMPORTING_ROLES)
            require_unit_scope(principal, job.scope_code, job.county_code)
        cutoff = self._clock() - STALE_AFTER
        if job.status.running and job.updated_at < cutoff:
            await self._jobs.fail_if_stale(wanted, cutoff)
            job = await self._jobs.get(wanted, limit) or job
        return job

    async def _own_job(self, principal: Principal, job_id: str) -> RosterJob:
        principal.require_any_role(*IMPORTING_ROLES)
        job = await self._jobs.get(parse_job_id(job_id), 0)
        if job is None:
            raise NotFound("no such roster import")
        if job.created_by != principal.subject:
            raise PermissionDenied("only who started a roster import may add to it")
        return job

    async def _county_of_scope(self, scope: str) -> str:
        if scope == CITY_CODE:
            return ""
        if _COUNTY.match(scope):
            return scope
        if _SCHOOL.match(scope):
            county = await self._jobs.county_of_school(scope)
            if county is None:
                raise InvalidArgument("scope_code", "no such school is registered")
            return county
        raise InvalidArgument("scope_code", "must be a school code, a county code or the city")


class BackgroundImports:
    """Runs committed jobs, each on a thread of its own (see ``importer`` for why)."""

    def __init__(self, connect: Connect, importer: RosterImporter) -> None:
        self._connect = connect
        self._importer = importer

    def __call__(self, job: RosterJob) -> None:
        start_thread(
            lambda: run_job(
                self._connect,
                self._importer,
                job.job_id,
                job.scope_code,
                job.format,
                job.bytes_received,
            ),
            name=f"roster-import-{job.job_id}",
        )
