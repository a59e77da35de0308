"""One job's run on its worker thread: reads the chunks, reports progress and records the
outcome on a connection of its own in autocommit, beside the importer's long transaction."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from identity.roster.importer import Connect, Outcome, RosterImporter, Source
from identity.roster.model import Counts, JobStatus, RosterFormat

log = logging.getLogger(__name__)


class SqlJobRun:
    """The importer's :class:`~identity.roster.importer.Progress`, and its chunk reader."""

    def __init__(self, connection: psycopg.Connection[Any], job_id: UUID) -> None:
        self._connection = connection
        self._job_id = job_id

    def source(self, fmt: RosterFormat, size: int) -> Source:
        sequence = 0

        def next_chunk() -> bytes:
            # One chunk (at most 4 MiB) at a time: the file is never whole in memory.
            nonlocal sequence
            row = self._connection.execute(
                "SELECT data FROM roster_import_chunks WHERE job_id = %s AND sequence = %s",
                (self._job_id, sequence),
            ).fetchone()
            sequence += 1
            return bytes(row[0]) if row else b""

        return Source(fmt, size, next_chunk)

    def update(self, status: JobStatus, percent: int, counts: Counts) -> None:
        self._connection.execute(
            "UPDATE roster_imports SET status = %s, progress_percent = %s, rows_total = %s,"
            " rows_validated = %s, rows_applied = %s, rows_created = %s, rows_updated = %s,"
            " rows_unchanged = %s, updated_at = now() WHERE job_id = %s",
            (
                status.value,
                percent,
                counts.rows_total,
                counts.rows_validated,
                counts.rows_applied,
                counts.rows_created,
                counts.rows_updated,
                counts.rows_unchanged,
                self._job_id,
            ),
        )

    def finish(self, outcome: Outcome) -> None:
        """Records the outcome and drops the uploaded file: it holds personal data and is not
        needed once the job has finished, whichever way."""
        with self._connection.transaction():
            counts = outcome.counts
            self._connection.execute(
                "UPDATE roster_imports SET status = %s, progress_percent = %s, rows_total = %s,"
                " rows_validated = %s, rows_applied = %s, rows_created = %s,"
                " rows_updated = %s, rows_unchanged = %s, error_count = %s, failure = %s,"
                " finished_at = now(), updated_at = now() WHERE job_id = %s",
                (
                    outcome.status.value,
                    100 if outcome.status is JobStatus.SUCCEEDED else 0,
                    counts.rows_total,
                    counts.rows_validated,
                    counts.rows_applied,
                    counts.rows_created,
                    counts.rows_updated,
                    counts.rows_unchanged,
                    outcome.error_count,
                    outcome.failure[:200],
                    self._job_id,
                ),
            )
            self._connection.execute(
                "DELETE FROM roster_import_errors WHERE job_id = %s", (self._job_id,)
            )
            with self._connection.cursor().copy(
                "COPY roster_import_errors (job_id, position, row, field, message) FROM STDIN"
            ) as copy:
                for position, error in enumerate(outcome.errors):
                    copy.write_row((self._job_id, position, error.row, error.field, error.message))
            self._connection.execute(
                "DELETE FROM roster_import_chunks WHERE job_id = %s", (self._job_id,)
            )


def run_job(
    connect: Connect,
    importer: RosterImporter,
    job_id: UUID,
    scope_code: str,
    fmt: RosterFormat,
    size: int,
) -> Outcome:
    """Runs one job to its end and records how it ended. Never raises."""
    with connect() as side:
        side.autocommit = True
        run = SqlJobRun(side, job_id)
        try:
            outcome = importer.run(scope_code, run.source(fmt, size), run)
        except Exception as error:
            # Only the type: a database error's text can quote the row it choked on.
            log.error("roster import %s failed: %s", job_id, type(error).__name__)
            outcome = Outcome(
                JobStatus.FAILED,
                failure="the import could not be applied and nothing was changed; start again",
            )
        run.finish(outcome)
        return outcome


def start_thread(work: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread running ``work`` in a copy of the caller's context (its trace, so the
    events written carry the request's ``traceparent``). Daemon: a process stopping mid-import
    must not wait for it; the open transaction then rolls back and the job reads as
    interrupted."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(work,), name=name, daemon=True)
    thread.start()
    return thread
