"""The import itself: parse, validate, stage, check against the database, merge, and write the
events, with the file's rows never held in memory all at once.

It runs on a worker thread with its own synchronous psycopg connection, because 1.6 million
rows are tens of seconds of CPU-bound Python and PostgreSQL work that must not stall the
event loop serving RPCs. Everything happens in ONE transaction on that connection: the rows are
streamed with COPY into a temporary staging table as they are validated (PostgreSQL ingests on
the other core while Python parses), checked against ``students`` with set-based queries, and
merged with ``UPDATE … FROM`` and ``INSERT … SELECT``; any row error rolls the whole
transaction back, so nothing is half-applied. Progress goes to the job row on a second,
autocommit connection, so it is visible while the big transaction is still open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg

from identity.domain.model import CITY_CODE, SchoolClass, grade_code
from identity.domain.resident_id import ResidentIdProtector
from identity.roster import columns as c
from identity.roster.columns import HeaderProblem, map_columns
from identity.roster.events import EVENT_ID_KEY, TOPIC, fixed_headers, template_for
from identity.roster.model import MAX_KEPT_ERRORS, Counts, JobStatus, RosterFormat, RowError
from identity.roster.reading import NextChunk, UnreadableFile, read_rows
from identity.roster.values import STAGING_COLUMNS, ErrorLog, RowChecker

log = logging.getLogger(__name__)

Connect = Callable[[], "psycopg.Connection[Any]"]

# Roster imports take this transaction-scoped advisory lock before they look at ``students``:
# two imports checking and merging at once could both insert the same new student.
_LOCK = "identity.roster-import"
# Staging rows not yet in ``students`` become students and, in the same statement, their
# ``StudentEnrolled`` outbox rows: nothing of the 1.6 million travels back to Python.
#
# New students' ids are time-ordered UUIDs (the layout of RFC 9562 version 7, made in SQL since
# PostgreSQL 15 has no uuidv7()): they grow with insertion, so the primary-key index is
# appended to instead of written at random pages, a large part of a million-row insert's cost.
_INSERT_NEW = (
    "WITH new AS ("
    " INSERT INTO students (student_id, student_number, full_name, gender, birth_date,"
    "  resident_id_hash, resident_id_masked, school_code, county_code, class_code,"
    "  status, enrolled_at, updated_at)"
    " SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing"
    "  substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)"
    "  from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid,"
    "  s.student_number, s.full_name, s.gender,"
    "  s.birth_date, s.resident_id_hash, s.resident_id_masked, s.school_code,"
    "  s.county_code, s.class_code, 'enrolled', %(now)s, %(now)s"
    " FROM roster_staging s"
    " WHERE s.row_no BETWEEN %(low)s AND %(high)s AND NOT EXISTS"
    "  (SELECT 1 FROM students t WHERE t.student_number = s.student_number)"
    # Index-friendly order: the school, county and class indexes are appended to.
    " ORDER BY s.school_code, s.class_code, s.student_number"
    " RETURNING student_id, school_code)"
    " INSERT INTO outbox (event_id, topic, key, payload, headers)"
    " SELECT e.event_id, %(topic)s::text, e.student_id::text,"
    "  p.before_event || convert_to(e.event_id::text, 'UTF8') || p.before_subject"
    "  || convert_to(e.student_id::text, 'UTF8') || p.before_student"
    "  || convert_to(e.student_id::text, 'UTF8') || p.after,"
    "  %(headers)s::jsonb || jsonb_build_object(%(event_key)s::text, e.event_id::text)"
    # gen_random_uuid() in a subquery's select list runs once per row (a v4 id, as
    # the envelope says); hoisted into a join it might run once for all of them.
    " FROM (SELECT gen_random_uuid() AS event_id, student_id, school_code FROM new) e"
    " JOIN roster_templates p ON p.school_code = e.school_code"
)
_COPY_BATCH = 2000
_VALIDATING_SHARE = 50
_CHECKING_SHARE = 5


class Progress(Protocol):
    """Where a running import reports how far it has got."""

    def update(self, status: JobStatus, percent: int, counts: Counts) -> None: ...


@dataclass(frozen=True)
class Source:
    format: RosterFormat
    size: int
    next_chunk: NextChunk


@dataclass
class Outcome:
    status: JobStatus
    counts: Counts = field(default_factory=Counts)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    failure: str = ""
    # Seconds per phase, for the benchmark and the ADR.
    timings: dict[str, float] = field(default_factory=dict)


class RosterImporter:
    def __init__(
        self,
        connect: Connect,
        protector: ResidentIdProtector,
        *,
        clock: Callable[[], datetime],
        progress_every: int = 50_000,
        merge_batch: int = 100_000,
        max_kept_errors: int = MAX_KEPT_ERRORS,
    ) -> None:
        self._connect = connect
        self._protector = protector
        self._clock = clock
        self._progress_every = progress_every
        self._merge_batch = merge_batch
        self._max_errors = max_kept_errors

    def run(self, scope_code: str, source: Source, progress: Progress) -> Outcome:
        """Imports the file; never raises for what is wrong with the file, only reports it."""
        with self._connect() as connection:
            try:
                return self._run(connection, scope_code, source, progress)
            except UnreadableFile as problem:
                connection.rollback()
                return Outcome(JobStatus.FAILED, failure=str(problem))
            except HeaderProblem as problem:
                connection.rollback()
                error = RowError(1, problem.field, problem.message)
                return Outcome(JobStatus.FAILED, errors=[error], error_count=1)

    def _run(
        self,
        connection: psycopg.Connection[Any],
        scope_code: str,
        source: Source,
        progress: Progress,
    ) -> Outcome:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        now = self._clock()
        cursor = connection.cursor()
        # Sorting and hashing a million staged rows in 4 MB would spill to disk.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        schools = dict(
            cursor.execute(
                "SELECT s.school_code, o.county_code FROM schools s"
                " JOIN org_units o ON o.code = s.school_code"
            ).fetchall()
        )
        in_scope = _in_scope(scope_code, schools)

        parsed = read_rows(source.format, source.next_chunk, source.size)
        errors = ErrorLog(self._max_errors)
        checker = RowChecker(
            map_columns(parsed.header),
            schools=schools,
            in_scope=in_scope,
            protector=self._protector,
            today=now.date(),
            errors=errors,
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE roster_staging ("
            " row_no integer PRIMARY KEY, student_number text NOT NULL, full_name text NOT NULL,"
            " gender text, birth_date date, resident_id_hash text, resident_id_masked text,"
            " school_code text NOT NULL, county_code text NOT NULL, class_code text"
            ") ON COMMIT DROP"
        )
        total = staged = 0
        copy_sql = f"COPY roster_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN"
        with cursor.copy(copy_sql) as copy:
            lines: list[str] = []
            for row, cells in parsed.rows:
                total += 1
                line = checker.check(row, cells)
                if line is not None:
                    lines.append(line)
                    if len(lines) >= _COPY_BATCH:
                        copy.write("".join(lines))
                        staged += len(lines)
                        lines.clear()
                if total % self._progress_every == 0:
                    percent = int(parsed.done() * _VALIDATING_SHARE)
                    progress.update(JobStatus.VALIDATING, percent, Counts(total, total))
            copy.write("".join(lines))
            staged += len(lines)
        timings["parse_validate_stage"] = time.perf_counter() - started
        counts = Counts(rows_total=total, rows_validated=total)
        progress.update(JobStatus.VALIDATING, _VALIDATING_SHARE, counts)

        # Only now look at students, under the lock, so what is checked is what is merged.
        mark = time.perf_counter()
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s::text))", (_LOCK,))
        cursor.execute("ANALYZE roster_staging")
        kept = list(errors.kept)
        count = errors.count
        for found, found_count in (
            self._other_school(cursor),
            self._resident_id_taken(cursor),
        ):
            kept.extend(found)
            count += found_count
        timings["database_checks"] = time.perf_counter() - mark
        if total == 0 and count == 0:
            connection.rollback()
            return Outcome(JobStatus.FAILED, counts, failure="the file has no student rows")
        if count:
            connection.rollback()
            kept.sort()
            return Outcome(
                JobStatus.FAILED, counts, kept[: self._max_errors], count, timings=timings
            )

        progress.update(JobStatus.APPLYING, _VALIDATING_SHARE + _CHECKING_SHARE, counts)
        mark = time.perf_counter()
        self._create_classes(cursor, checker.classes, schools)
        timings["classes"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self._stage_templates(cursor, in_scope, schools, now)
        headers = fixed_headers()
        created = updated = applied = 0
        # Merged in slices of row numbers, so progress moves while the transaction stays one.
        batches = cursor.execute(
            "SELECT row_no / %s, count(*) FROM roster_staging GROUP BY 1 ORDER BY 1",
            (self._merge_batch,),
        ).fetchall()
        for done, (batch, size) in enumerate(batches, start=1):
            low, high = batch * self._merge_batch, (batch + 1) * self._merge_batch - 1
            updated += self._update_changed(cursor, low, high)
            created += self._insert_new(cursor, low, high, now, headers)
            applied += size
            counts = Counts(total, total, applied, created, updated, applied - created - updated)
            share = 100 - _VALIDATING_SHARE - _CHECKING_SHARE
            percent = _VALIDATING_SHARE + _CHECKING_SHARE + share * done // len(batches)
            progress.update(JobStatus.APPLYING, min(percent, 99), counts)
        timings["merge"] = time.perf_counter() - mark
        mark = time.perf_counter()
        connection.commit()
        timings["commit"] = time.perf_counter() - mark
        counts = Counts(total, total, staged, created, updated, staged - created - updated)
        return Outcome(JobStatus.SUCCEEDED, counts, timings=timings)

    def _other_school(self, cursor: psycopg.Cursor[Any]) -> tuple[list[RowError], int]:
        """A student number enrolled at another school: that is a transfer, not an import."""
        rows = cursor.execute(
            "SELECT s.row_no, count(*) OVER () FROM roster_staging s"
            " JOIN students t ON t.student_number = s.student_number"
            " WHERE t.school_code <> s.school_code ORDER BY s.row_no LIMIT %s",
            (self._max_errors,),
        ).fetchall()
        message = "is enrolled at another school; a transfer is not an import"
        return [RowError(row, c.STUDENT_NUMBER, message) for row, _ in rows], (
            int(rows[0][1]) if rows else 0
        )

    def _resident_id_taken(self, cursor: psycopg.Cursor[Any]) -> tuple[list[RowError], int]:
        rows = cursor.execute(
            "SELECT s.row_no, count(*) OVER () FROM roster_staging s"
            " JOIN students t ON t.resident_id_hash = s.resident_id_hash"
            " WHERE t.student_number <> s.student_number ORDER BY s.row_no LIMIT %s",
            (self._max_errors,),
        ).fetchall()
        message = "belongs to another enrolled student"
        return [RowError(row, c.RESIDENT_ID, message) for row, _ in rows], (
            int(rows[0][1]) if rows else 0
        )

    def _create_classes(
        self,
        cursor: psycopg.Cursor[Any],
        wanted: Iterable[tuple[str, int, int]],
        schools: dict[str, str],
    ) -> None:
        """The grades and classes the file names that do not exist yet, named as
        ``Organisation.create_class`` names them."""
        cursor.execute(
            "CREATE TEMPORARY TABLE roster_classes (class_code text, grade_code text,"
            " school_code text, county_code text, cohort smallint, number smallint,"
            " grade_name text, class_name text) ON COMMIT DROP"
        )
        with cursor.copy("COPY roster_classes FROM STDIN") as copy:
            for school, cohort, number in wanted:
                school_class = SchoolClass.of(school, cohort, number)
                copy.write_row(
                    (
                        school_class.class_code,
                        grade_code(school, cohort),
                        school,
                        schools[school],
                        cohort,
                        number,
                        f"{cohort}级",
                        school_class.name,
                    )
                )
        cursor.execute(
            "INSERT INTO org_units (code, kind, name, parent_code, county_code, school_code)"
            " SELECT DISTINCT grade_code, 'grade', grade_name, school_code, county_code,"
            " school_code FROM roster_classes ON CONFLICT (code) DO NOTHING"
        )
        cursor.execute(
            "INSERT INTO org_units (code, kind, name, parent_code, county_code, school_code)"
            " SELECT class_code, 'class', class_name, grade_code, county_code, school_code"
            " FROM roster_classes ON CONFLICT (code) DO NOTHING"
        )
        cursor.execute(
            "INSERT INTO classes (class_code, school_code, cohort, number)"
            " SELECT class_code, school_code, cohort, number FROM roster_classes"
            " ON CONFLICT (class_code) DO NOTHING"
        )

    def _stage_templates(
        self,
        cursor: psycopg.Cursor[Any],
        in_scope: set[str],
        schools: dict[str, str],
        now: datetime,
    ) -> None:
        """One payload template per school the import may touch (3,000 for the city: cheaper
        than finding out which schools the file names)."""
        cursor.execute(
            "CREATE TEMPORARY TABLE roster_templates (school_code text PRIMARY KEY,"
            " before_event bytea, before_subject bytea, before_student bytea, after bytea)"
            " ON COMMIT DROP"
        )
        with cursor.copy("COPY roster_templates FROM STDIN") as copy:
            for school in sorted(in_scope):
                template = template_for(school, schools[school], now)
                copy.write_row(
                    (
                        school,
                        template.before_event,
                        template.before_subject,
                        template.before_student,
                        template.after,
                    )
                )

    def _update_changed(self, cursor: psycopg.Cursor[Any], low: int, high: int) -> int:
        """Students of the same school whose row says something new. A blank cell keeps what
        is stored: a registry export without resident IDs must not erase them."""
        cursor.execute(
            "UPDATE students t SET full_name = s.full_name,"
            " gender = coalesce(s.gender, t.gender),"
            " birth_date = coalesce(s.birth_date, t.birth_date),"
            " resident_id_hash = coalesce(s.resident_id_hash, t.resident_id_hash),"
            " resident_id_masked = coalesce(s.resident_id_masked, t.resident_id_masked),"
            " class_code = coalesce(s.class_code, t.class_code),"
            " status = 'enrolled', updated_at = now()"
            " FROM roster_staging s"
            " WHERE s.row_no BETWEEN %s AND %s"
            " AND t.student_number = s.student_number AND t.school_code = s.school_code"
            " AND (t.full_name, t.gender, t.birth_date, t.resident_id_hash,"
            "      t.resident_id_masked, t.class_code, t.status)"
            " IS DISTINCT FROM (s.full_name, coalesce(s.gender, t.gender),"
            "      coalesce(s.birth_date, t.birth_date),"
            "      coalesce(s.resident_id_hash, t.resident_id_hash),"
            "      coalesce(s.resident_id_masked, t.resident_id_masked),"
            "      coalesce(s.class_code, t.class_code), 'enrolled')",
            (low, high),
        )
        return max(cursor.rowcount, 0)

    def _insert_new(
        self, cursor: psycopg.Cursor[Any], low: int, high: int, now: datetime, headers: str
    ) -> int:
        """New students and, in the same statement, their ``StudentEnrolled`` outbox rows."""
        cursor.execute(
            _INSERT_NEW,
            {
                "now": now,
                "low": low,
                "high": high,
                "topic": TOPIC,
                "headers": headers,
                "event_key": EVENT_ID_KEY,
            },
        )
        return max(cursor.rowcount, 0)


def _in_scope(scope_code: str, schools: dict[str, str]) -> set[str]:
    if scope_code == CITY_CODE:
        return set(schools)
    if len(scope_code) == 6:
        return {school for school, county in schools.items() if county == scope_code}
    return {scope_code} if scope_code in schools else set()
