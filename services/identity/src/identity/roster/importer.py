"""The import itself: parse, validate, stage, check against the database, merge, and write the
events, without ever holding the file's rows in memory all at once.

Everything is ONE transaction on one synchronous psycopg connection, so any row error rolls
all of it back and nothing is half-applied. Two threads share the work, because the machine
has two kinds of it: Python parses and validates (CPU-bound, holding the GIL) while
PostgreSQL stages the previous block with COPY, checks it against ``students`` and merges it
with set-based ``UPDATE … FROM`` and ``INSERT … SELECT`` (waiting on the server, GIL released).
A block merged before a later row turns out bad is simply rolled back with the rest. Progress
goes to the job row on the caller's own autocommit connection, so it shows while the big
transaction is still open. The whole thing runs on a worker thread of the service, never on
its event loop.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg

from identity.domain.model import CITY_CODE, SchoolClass, grade_code
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.student_number import StudentNumberProtector
from identity.roster import columns as c
from identity.roster.columns import HeaderProblem, map_columns
from identity.roster.events import OUTBOX_COLUMNS, enrolment_rows
from identity.roster.model import MAX_KEPT_ERRORS, Counts, JobStatus, RosterFormat, RowError
from identity.roster.reading import NextChunk, UnreadableFile, read_rows
from identity.roster.values import STAGING_COLUMNS, ErrorLog, RowChecker

Connect = Callable[[], "psycopg.Connection[Any]"]

# Roster imports take this transaction-scoped advisory lock before they look at ``students``:
# two imports checking and merging at once could both insert the same new student.
_LOCK = "identity.roster-import"
# One probe of students' unique index per staged row, kept for the block's checks and merge:
# which rows name a student that already exists, where, and whether this very transaction
# wrote it from an earlier block (its xmin is our xid: then it is the file's own business, and
# repeats inside the file are already reported by the row checker). A first import finds
# nothing here, and every later statement's anti-join probes an empty table.
_MATCH = (
    "INSERT INTO roster_matches (row_no, student_id, school_code, ours)"
    " SELECT s.row_no, t.student_id, t.school_code,"
    "  t.xmin::text::bigint = pg_current_xact_id()::text::bigint %% 4294967296"
    " FROM roster_staging s JOIN students t ON t.student_number_hash = s.student_number_hash"
    " WHERE s.row_no BETWEEN %(low)s AND %(high)s"
)
_OTHER_SCHOOL = (
    "SELECT m.row_no, count(*) OVER () FROM roster_matches m"
    " JOIN roster_staging s ON s.row_no = m.row_no"
    " WHERE m.school_code <> s.school_code AND NOT m.ours"
    " ORDER BY m.row_no LIMIT %(limit)s"
)
_RESIDENT_ID_TAKEN = (
    "SELECT s.row_no, count(*) OVER () FROM roster_staging s"
    " JOIN students t ON t.resident_id_hash = s.resident_id_hash"
    " WHERE s.row_no BETWEEN %(low)s AND %(high)s"
    " AND t.student_number_hash <> s.student_number_hash"
    " AND t.xmin::text::bigint <> pg_current_xact_id()::text::bigint %% 4294967296"
    " ORDER BY s.row_no LIMIT %(limit)s"
)
# Staging rows not yet in ``students`` become students; their ids and schools come back for
# the events (about 2 MB a block).
#
# New students' ids are time-ordered: the first 48 bits are the block's millisecond clock and
# a 7 marks the layout of RFC 9562 version 7 (PostgreSQL 15 has no uuidv7()), the rest stays
# gen_random_uuid()'s randomness. Ids then grow from block to block, so the primary-key index
# is appended to instead of written at random pages all over, a large part of a big insert.
_INSERT_NEW = (
    "INSERT INTO students (student_id, student_number_hash, student_number_cipher,"
    " student_number_masked, full_name, gender, birth_date,"
    " resident_id_hash, resident_id_masked, school_code, county_code, class_code,"
    " status, enrolled_at, updated_at)"
    " SELECT (%(id_prefix)s || substr(gen_random_uuid()::text, 16))::uuid,"
    " s.student_number_hash, s.student_number_cipher, s.student_number_masked,"
    " s.full_name, s.gender,"
    " s.birth_date, s.resident_id_hash, s.resident_id_masked, s.school_code,"
    " s.county_code, s.class_code, 'enrolled', %(now)s, %(now)s"
    " FROM roster_staging s"
    " WHERE s.row_no BETWEEN %(low)s AND %(high)s"
    " AND NOT EXISTS (SELECT 1 FROM roster_matches m WHERE m.row_no = s.row_no)"
    " RETURNING student_id, school_code"
)
# Progress: reading the file counts for this much, checking and merging its rows for the rest
# (short of 100, which only a commit reaches).
_PARSED_SHARE = 45


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


@dataclass
class _Block:
    """Rows parsed since the last block, handed from the parser to the database thread."""

    lines: list[str]
    first_row: int
    last_row: int
    new_classes: list[tuple[str, int, int]]
    # Parser state when the block was cut.
    rows_seen: int
    row_errors: int
    parsed_fraction: float
    last: bool = False


@dataclass
class _Merged:
    """What the database thread has done so far."""

    staged: int = 0
    checked: int = 0
    applied: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    failure: BaseException | None = None
    percent: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def spent(self, phase: str, since: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - since


class RosterImporter:
    def __init__(
        self,
        connect: Connect,
        protector: ResidentIdProtector,
        numbers: StudentNumberProtector,
        *,
        clock: Callable[[], datetime],
        block_rows: int = 50_000,
        max_kept_errors: int = MAX_KEPT_ERRORS,
    ) -> None:
        self._connect = connect
        self._protector = protector
        self._numbers = numbers
        self._clock = clock
        self._block_rows = block_rows
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
        started = time.perf_counter()
        now = self._clock()
        cursor = connection.cursor()
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
            numbers=self._numbers,
            today=now.date(),
            errors=errors,
        )
        self._prepare(cursor, in_scope, schools, now)

        blocks: queue.Queue[_Block | None] = queue.Queue(maxsize=2)
        merged = _Merged()
        database = threading.Thread(
            target=self._database_side,
            args=(cursor, blocks, merged, schools, now, progress),
            name="roster-import-database",
            daemon=True,
        )
        database.start()
        total = 0
        parse_seconds = 0.0
        try:
            lines: list[str] = []
            first_row = 0
            mark = time.perf_counter()
            for row, cells in parsed.rows:
                total += 1
                line = checker.check(row, cells)
                if line is not None:
                    if not lines:
                        first_row = row
                    lines.append(line)
                if len(lines) >= self._block_rows:
                    parse_seconds += time.perf_counter() - mark
                    self._hand_over(
                        blocks,
                        merged,
                        database,
                        lines,
                        first_row,
                        row,
                        checker,
                        total,
                        errors,
                        parsed.done(),
                    )
                    lines = []
                    mark = time.perf_counter()
            parse_seconds += time.perf_counter() - mark
            self._hand_over(
                blocks,
                merged,
                database,
                lines,
                first_row,
                0,
                checker,
                total,
                errors,
                1.0,
                last=True,
            )
        finally:
            _put(blocks, None, database)
            database.join()
        if merged.failure is not None:
            raise merged.failure
        timings = {"parse_validate": parse_seconds, **merged.seconds}
        counts = Counts(
            total,
            total,
            merged.applied,
            merged.created,
            merged.updated,
            merged.applied - merged.created - merged.updated,
        )
        count = errors.count + merged.error_count
        if count:
            connection.rollback()
            kept = sorted({*errors.kept, *merged.errors})[: self._max_errors]
            failed = Counts(total, total)
            return Outcome(JobStatus.FAILED, failed, kept, count, timings=timings)
        if total == 0:
            connection.rollback()
            return Outcome(JobStatus.FAILED, counts, failure="the file has no student rows")
        mark = time.perf_counter()
        connection.commit()
        timings["commit"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - started
        return Outcome(JobStatus.SUCCEEDED, counts, timings=timings)

    def _hand_over(
        self,
        blocks: queue.Queue[_Block | None],
        merged: _Merged,
        database: threading.Thread,
        lines: list[str],
        first_row: int,
        last_row: int,
        checker: RowChecker,
        total: int,
        errors: ErrorLog,
        fraction: float,
        *,
        last: bool = False,
    ) -> None:
        if merged.failure is not None:
            raise merged.failure
        new_classes, checker.new_classes = checker.new_classes, []
        block = _Block(lines, first_row, last_row, new_classes, total, errors.count, fraction, last)
        _put(blocks, block, database)

    def _prepare(
        self,
        cursor: psycopg.Cursor[Any],
        in_scope: set[str],
        schools: dict[str, str],
        now: datetime,
    ) -> None:
        # Hashing and sorting a block of staged rows in 4 MB would spill to disk.
        cursor.execute("SET LOCAL work_mem = '128MB'")
        # Every statement joins one block of staged rows (50,000) to students, which grows by
        # that much per block inside this transaction, where no ANALYZE sees it: the planner
        # then hashes the whole of students for every block (quadratic in the file). Probing
        # students' unique and resident-hash indexes once per staged row is what we want.
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(
            "CREATE TEMPORARY TABLE roster_staging ("
            " row_no integer PRIMARY KEY, student_number_hash text NOT NULL,"
            " student_number_cipher bytea NOT NULL, student_number_masked text NOT NULL,"
            " full_name text NOT NULL,"
            " gender text, birth_date date, resident_id_hash text, resident_id_masked text,"
            " school_code text NOT NULL, county_code text NOT NULL, class_code text"
            ") ON COMMIT DROP"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE roster_classes (class_code text, grade_code text,"
            " school_code text, county_code text, cohort smallint, number smallint,"
            " grade_name text, class_name text) ON COMMIT DROP"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE roster_matches (row_no integer PRIMARY KEY,"
            " student_id uuid NOT NULL, school_code text NOT NULL, ours boolean NOT NULL)"
            " ON COMMIT DROP"
        )

    def _database_side(
        self,
        cursor: psycopg.Cursor[Any],
        blocks: queue.Queue[_Block | None],
        merged: _Merged,
        schools: dict[str, str],
        now: datetime,
        progress: Progress,
    ) -> None:
        """Stages, checks and merges each block as it comes. Once any row is known to be bad,
        merging stops (it will all be rolled back) but checking goes on, so the report has
        every row's problems."""
        locked = False
        last_prefix = 0
        try:
            while (block := blocks.get()) is not None:
                mark = time.perf_counter()
                self._stage(cursor, block.lines)
                merged.staged += len(block.lines)
                merged.spent("stage", mark)
                if block.lines:
                    if not locked:
                        # Only now look at students, under the lock: what is checked is what
                        # is merged.
                        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s::text))", (_LOCK,))
                        locked = True
                    low, high = block.first_row, block.last_row or 2**31 - 1
                    mark = time.perf_counter()
                    cursor.execute("DELETE FROM roster_matches")
                    cursor.execute(_MATCH, {"low": low, "high": high})
                    self._check(cursor, merged, low, high)
                    merged.checked += len(block.lines)
                    merged.spent("database_checks", mark)
                    if not (block.row_errors or merged.error_count):
                        mark = time.perf_counter()
                        self._create_classes(cursor, block.new_classes, schools)
                        merged.spent("classes", mark)
                        mark = time.perf_counter()
                        # Never the same millisecond twice: ids keep growing block by block.
                        last_prefix = max(int(time.time() * 1000), last_prefix + 1)
                        merged.updated += self._update_changed(cursor)
                        merged.created += self._insert_new(
                            cursor, low, high, now, schools, _id_prefix(last_prefix)
                        )
                        merged.applied += len(block.lines)
                        merged.spent("merge", mark)
                failing = bool(block.row_errors or merged.error_count)
                status = JobStatus.APPLYING if block.last and not failing else JobStatus.VALIDATING
                # The file's row count is known only at its end; until then, extrapolate.
                fraction = block.parsed_fraction or 1.0
                expected_rows = max(block.rows_seen / fraction, merged.checked, 1)
                percent = int(
                    block.parsed_fraction * _PARSED_SHARE
                    + merged.checked / expected_rows * (99 - _PARSED_SHARE)
                )
                merged.percent = max(merged.percent, min(percent, 99))
                progress.update(
                    status,
                    merged.percent,
                    Counts(
                        block.rows_seen,
                        block.rows_seen,
                        merged.applied,
                        merged.created,
                        merged.updated,
                        merged.applied - merged.created - merged.updated,
                    ),
                )
        except BaseException as error:  # handed to the parser's thread, which re-raises it
            merged.failure = error

    def _stage(self, cursor: psycopg.Cursor[Any], lines: list[str]) -> None:
        if not lines:
            return
        with cursor.copy(f"COPY roster_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
            copy.write("".join(lines))

    def _check(self, cursor: psycopg.Cursor[Any], merged: _Merged, low: int, high: int) -> None:
        """A student number enrolled at another school (a transfer, not an import), and a
        resident ID that is another student's."""
        for sql, field_name, message in (
            (
                _OTHER_SCHOOL,
                c.STUDENT_NUMBER,
                "is enrolled at another school; a transfer is not an import",
            ),
            (_RESIDENT_ID_TAKEN, c.RESIDENT_ID, "belongs to another enrolled student"),
        ):
            found = cursor.execute(
                sql, {"low": low, "high": high, "limit": self._max_errors}
            ).fetchall()
            if found:
                merged.error_count += int(found[0][1])
                if len(merged.errors) < self._max_errors:
                    merged.errors.extend(RowError(row, field_name, message) for row, _ in found)

    def _create_classes(
        self,
        cursor: psycopg.Cursor[Any],
        wanted: Iterable[tuple[str, int, int]],
        schools: dict[str, str],
    ) -> None:
        """The grades and classes the block names that do not exist yet, named as
        ``Organisation.create_class`` names them."""
        rows = [
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
            for school, cohort, number in wanted
            for school_class in (SchoolClass.of(school, cohort, number),)
        ]
        if not rows:
            return
        cursor.execute("TRUNCATE roster_classes")
        with cursor.copy("COPY roster_classes FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
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

    def _update_changed(self, cursor: psycopg.Cursor[Any]) -> int:
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
            " FROM roster_matches m JOIN roster_staging s ON s.row_no = m.row_no"
            " WHERE t.student_id = m.student_id AND m.school_code = s.school_code"
            " AND (t.full_name, t.gender, t.birth_date, t.resident_id_hash,"
            "      t.resident_id_masked, t.class_code, t.status)"
            " IS DISTINCT FROM (s.full_name, coalesce(s.gender, t.gender),"
            "      coalesce(s.birth_date, t.birth_date),"
            "      coalesce(s.resident_id_hash, t.resident_id_hash),"
            "      coalesce(s.resident_id_masked, t.resident_id_masked),"
            "      coalesce(s.class_code, t.class_code), 'enrolled')"
        )
        return max(cursor.rowcount, 0)

    def _insert_new(
        self,
        cursor: psycopg.Cursor[Any],
        low: int,
        high: int,
        now: datetime,
        schools: dict[str, str],
        id_prefix: str,
    ) -> int:
        """Inserts the block's new students and their ``StudentsEnrolled`` outbox rows."""
        cursor.execute(_INSERT_NEW, {"now": now, "low": low, "high": high, "id_prefix": id_prefix})
        new_students: list[tuple[Any, str]] = cursor.fetchall()
        if new_students:
            with cursor.copy(f"COPY outbox ({', '.join(OUTBOX_COLUMNS)}) FROM STDIN") as copy:
                for row in enrolment_rows(new_students, schools, now):
                    copy.write_row(row)
        return len(new_students)


def _id_prefix(milliseconds: int) -> str:
    """``tttttttt-tttt-7``: 48 bits of Unix milliseconds and the version-7 marker."""
    clock = f"{milliseconds:012x}"
    return f"{clock[:8]}-{clock[8:]}-7"


def _put(blocks: queue.Queue[_Block | None], item: _Block | None, reader: threading.Thread) -> None:
    """Hands a block over, unless the database thread has died (then it would wait forever)."""
    while reader.is_alive():
        try:
            blocks.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


def _in_scope(scope_code: str, schools: dict[str, str]) -> set[str]:
    if scope_code == CITY_CODE:
        return set(schools)
    if len(scope_code) == 6:
        return {school for school, county in schools.items() if county == scope_code}
    return {scope_code} if scope_code in schools else set()
