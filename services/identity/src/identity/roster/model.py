"""What a roster import is and says about itself. No transport, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

# A chunk is at most 4 MiB so a request stays under gRPC's 8 MiB receive limit with room to spare.
MAX_CHUNK_BYTES = 4 * 1024 * 1024
# The city's whole registry (1.6 million rows) is about 130 MB as CSV.
MAX_FILE_BYTES = 512 * 1024 * 1024
# Errors kept per job; the count goes on past it. A file with more errors than this needs fixing
# at the source, not row by row.
MAX_KEPT_ERRORS = 1000


class RosterFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class JobStatus(StrEnum):
    RECEIVING = "receiving"
    VALIDATING = "validating"
    APPLYING = "applying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def running(self) -> bool:
        return self in (JobStatus.VALIDATING, JobStatus.APPLYING)


@dataclass(frozen=True, order=True)
class RowError:
    """One problem with one cell. ``row`` is the spreadsheet row (the header is row 1)."""

    row: int
    field: str
    message: str


@dataclass(frozen=True)
class Counts:
    rows_total: int = 0
    rows_validated: int = 0
    rows_applied: int = 0
    rows_created: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0


@dataclass(frozen=True)
class RosterJob:
    job_id: UUID
    scope_code: str
    county_code: str
    format: RosterFormat
    status: JobStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    chunks_received: int = 0
    bytes_received: int = 0
    counts: Counts = Counts()
    progress_percent: int = 0
    error_count: int = 0
    failure: str = ""
    finished_at: datetime | None = None
    errors: tuple[RowError, ...] = field(default=())
