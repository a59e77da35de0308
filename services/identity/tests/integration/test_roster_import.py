"""Roster import against the real PostgreSQL: the whole job through the use cases, the
background thread and the SQL, in a throwaway schema (the identity tables may not be migrated
on this database yet; the schema is dropped afterwards)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from throwaway import COUNTY, DATABASE_URL, OTHER_SCHOOL, SCHOOL, two_school_schema

from identity.adapters.db.tables import metadata
from identity.adapters.messaging.events import school_subject
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.student_number import StudentNumberProtector
from identity.roster import tables as roster_tables
from identity.roster.importer import Connect, RosterImporter
from identity.roster.model import Counts, JobStatus, RosterFormat, RosterJob
from identity.roster.run import SqlJobRun
from identity.roster.service import BackgroundImports, RosterImports
from identity.roster.store import RosterJobs
from identity.roster.wiring import connector
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_session_factory
from xinyu_core.errors import PermissionDenied
from xinyu_core.messaging import validate_event
from xinyu_core.testing import principal

pytestmark = pytest.mark.integration

KEY = b"roster-test-key-0123456789abcdef"
NUMBERS = StudentNumberProtector(ResidentIdProtector(KEY), FieldCipher(bytes(range(32))))
assert roster_tables.roster_imports.metadata is metadata


def resident_id(n: int, male: bool = True) -> str:
    sequence = (n * 2 + (1 if male else 0)) % 1000
    first17 = f"{COUNTY}2012{1 + n % 12:02d}{1 + n % 28:02d}{sequence:03d}"
    return first17 + check_character(first17)


def roster(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["学籍号", "姓名", "性别", "出生日期", "身份证件号", "学校标识码", "入学年份", "班级"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def student(n: int, school: str = SCHOOL, **overrides: str) -> dict[str, str]:
    rid = resident_id(n)
    row = {
        "学籍号": "G" + rid,
        "姓名": f"测试{n}号",
        "性别": "男",
        "出生日期": f"{rid[6:10]}-{rid[10:12]}-{rid[12:14]}",
        "身份证件号": rid,
        "学校标识码": school,
        "入学年份": "2024",
        "班级": str(1 + n % 3),
    }
    row.update(overrides)
    return row


@dataclass
class World:
    schema: str
    engine: AsyncEngine
    connect: Connect
    imports: RosterImports
    importer: RosterImporter

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.connect() as connection:
            return list(connection.execute(sql, args).fetchall())


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with two_school_schema("roster") as schema:
        connect = connector(DATABASE_URL, options=schema.options)
        importer = RosterImporter(
            connect,
            ResidentIdProtector(KEY),
            NUMBERS,
            clock=lambda: datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
            block_rows=2,
        )
        imports = RosterImports(
            RosterJobs(make_session_factory(schema.engine)), BackgroundImports(connect, importer)
        )
        yield World(schema.name, schema.engine, connect, imports, importer)


ADMIN = principal("school_admin", org_unit=SCHOOL, subject="00000000-0000-4000-8000-0000000000a1")


async def upload(
    world: World, data: bytes, who: Any = ADMIN, fmt: RosterFormat = RosterFormat.CSV
) -> RosterJob:
    job = await world.imports.start(who, fmt, SCHOOL)
    pieces = [data[i : i + 100] for i in range(0, len(data), 100)]
    for sequence, piece in enumerate(pieces):
        await world.imports.append(who, str(job.job_id), sequence, piece)
    await world.imports.commit(who, str(job.job_id), len(pieces))
    return await finished(world, job, who)


async def finished(world: World, job: RosterJob, who: Any = ADMIN) -> RosterJob:
    for _ in range(300):
        found = await world.imports.get(who, str(job.job_id), 100)
        if found.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_a_roster_is_imported_with_classes_and_one_event_per_new_student(
    world: World,
) -> None:
    job = await upload(world, roster([student(n) for n in range(6)]))

    assert job.status is JobStatus.SUCCEEDED, job
    assert job.counts == Counts(6, 6, 6, 6, 0, 0)
    assert job.progress_percent == 100
    stored = sorted(
        (NUMBERS.reveal(row[0]), *row[1:])
        for row in world.query(
            "SELECT student_number_cipher, gender, birth_date::text, resident_id_hash,"
            " resident_id_masked, class_code, county_code, student_number_hash,"
            " student_number_masked FROM students"
        )
    )
    assert len(stored) == 6
    first = stored[0]
    rid = resident_id(0)
    assert first[0] == "G" + rid
    assert first[7] == NUMBERS.keyed_hash("G" + rid)
    assert first[8] == "G" + rid[:6] + "********" + rid[-4:]
    assert first[1] == "male"
    assert first[3] == ResidentIdProtector(KEY).keyed_hash(rid)
    assert first[4] == rid[:6] + "********" + rid[-4:]
    assert first[5] == f"{SCHOOL}-2024-01"
    assert first[6] == COUNTY
    # The clear resident ID is nowhere in the table, not even inside the student number.
    assert not world.query(
        "SELECT 1 FROM students s WHERE strpos(s::text, %s) > 0"
        " OR strpos(encode(s.student_number_cipher, 'escape'), %s) > 0",
        rid,
        rid,
    )
    assert world.query("SELECT code, name FROM org_units WHERE kind = 'grade'") == [
        (f"{SCHOOL}-2024", "2024级")
    ]
    assert sorted(world.query("SELECT class_code, number FROM classes")) == [
        (f"{SCHOOL}-2024-0{n}", n) for n in (1, 2, 3)
    ]
    assert world.query("SELECT name FROM org_units WHERE code = %s", f"{SCHOOL}-2024-03") == [
        ("2024级3班",)
    ]

    events = world.query("SELECT event_id, topic, key, payload, headers FROM outbox")
    ids = {str(row[0]) for row in world.query("SELECT student_id FROM students")}
    # Six new students of one school, in blocks of two rows: an event per block, each student
    # told exactly once.
    assert len(events) == 3
    told = [
        i for e in events for i in identity_events.StudentsEnrolled.FromString(e[3]).student_ids
    ]
    assert sorted(told) == sorted(ids)
    for event_id, topic, key, payload, headers in events:
        assert topic == "identity.students.enrolled.v1"
        message = identity_events.StudentsEnrolled.FromString(payload)
        meta = validate_event(message)
        assert meta.event_id == str(event_id)
        assert meta.subject == key == str(school_subject(SCHOOL))
        assert len(message.student_ids) == 2
        assert message.school_code == SCHOOL
        assert message.county_code == COUNTY
        assert headers["x-event-id"] == str(event_id)
        assert headers["content-type"] == "application/x-protobuf"
        assert headers["x-payload-type"] == "xinyu.events.v1.StudentsEnrolled"
    # The uploaded file is gone once the job has ended.
    assert not world.query("SELECT 1 FROM roster_import_chunks")


async def test_the_same_file_twice_changes_nothing_and_writes_no_events(world: World) -> None:
    data = roster([student(n) for n in range(5)])
    await upload(world, data)
    before = world.query("SELECT student_id, updated_at FROM students ORDER BY 1")
    events = world.query("SELECT count(*) FROM outbox")[0][0]

    again = await upload(world, data)

    assert again.status is JobStatus.SUCCEEDED
    assert again.counts == Counts(5, 5, 5, 0, 0, 5)
    assert world.query("SELECT student_id, updated_at FROM students ORDER BY 1") == before
    assert world.query("SELECT count(*) FROM outbox")[0][0] == events


async def test_a_changed_row_updates_the_student_without_an_event(world: World) -> None:
    await upload(world, roster([student(n) for n in range(3)]))
    events = world.query("SELECT count(*) FROM outbox")[0][0]

    job = await upload(world, roster([student(0, 班级="3"), student(1), student(2)]))

    assert job.counts == Counts(3, 3, 3, 0, 1, 2)
    assert world.query(
        "SELECT class_code FROM students WHERE student_number_hash = %s",
        NUMBERS.keyed_hash("G" + resident_id(0)),
    ) == [(f"{SCHOOL}-2024-03",)]
    assert world.query("SELECT count(*) FROM outbox")[0][0] == events


async def test_one_bad_row_applies_nothing_and_is_reported_by_row_and_field(world: World) -> None:
    rows = [student(n) for n in range(4)]
    rows[2]["出生日期"] = "2012-13-45"
    job = await upload(world, roster(rows))

    assert job.status is JobStatus.FAILED
    assert job.error_count == 1
    assert [(e.row, e.field) for e in job.errors] == [(4, "birth_date")]
    assert "2012-13-45" not in job.errors[0].message
    assert world.query("SELECT count(*) FROM students") == [(0,)]
    assert world.query("SELECT count(*) FROM classes") == [(0,)]
    assert world.query("SELECT count(*) FROM outbox") == [(0,)]


async def test_a_student_enrolled_at_another_school_is_a_row_error(world: World) -> None:
    other_admin = principal(
        "school_admin", org_unit=OTHER_SCHOOL, subject="00000000-0000-4000-8000-0000000000b2"
    )
    job = await world.imports.start(other_admin, RosterFormat.CSV, OTHER_SCHOOL)
    await world.imports.append(
        other_admin, str(job.job_id), 0, roster([student(1, school=OTHER_SCHOOL)])
    )
    await world.imports.commit(other_admin, str(job.job_id), 1)
    assert (await finished(world, job, other_admin)).status is JobStatus.SUCCEEDED

    failed = await upload(world, roster([student(0), student(1)]))

    assert failed.status is JobStatus.FAILED
    assert [(e.row, e.field) for e in failed.errors] == [(3, "student_number")]
    assert world.query("SELECT count(*) FROM students") == [(1,)]


async def test_rows_for_a_school_outside_the_scope_are_row_errors(world: World) -> None:
    job = await upload(world, roster([student(0), student(1, school=OTHER_SCHOOL)]))

    assert [(e.row, e.field, e.message) for e in job.errors] == [
        (3, "school_code", "is outside this import's scope")
    ]
    assert world.query("SELECT count(*) FROM students") == [(0,)]


async def test_a_school_admin_of_another_school_is_refused(world: World) -> None:
    intruder = principal("school_admin", org_unit=OTHER_SCHOOL)
    with pytest.raises(PermissionDenied):
        await world.imports.start(intruder, RosterFormat.CSV, SCHOOL)
    job = await world.imports.start(ADMIN, RosterFormat.CSV, SCHOOL)
    with pytest.raises(PermissionDenied):
        await world.imports.get(intruder, str(job.job_id), 10)
    with pytest.raises(PermissionDenied):
        await world.imports.append(intruder, str(job.job_id), 0, b"x")
    county = principal("county_admin", org_unit=COUNTY)
    assert (await world.imports.get(county, str(job.job_id), 10)).job_id == job.job_id


async def test_chunks_are_idempotent_per_sequence(world: World) -> None:
    from xinyu_core.errors import AlreadyExists, FailedPrecondition

    job = await world.imports.start(ADMIN, RosterFormat.CSV, SCHOOL)
    first = await world.imports.append(ADMIN, str(job.job_id), 0, b"abc")
    again = await world.imports.append(ADMIN, str(job.job_id), 0, b"abc")
    assert first == (False, 3)
    assert again == (True, 3)
    with pytest.raises(AlreadyExists):
        await world.imports.append(ADMIN, str(job.job_id), 0, b"abd")
    await world.imports.append(ADMIN, str(job.job_id), 2, b"def")
    with pytest.raises(FailedPrecondition):  # sequence 1 is missing
        await world.imports.commit(ADMIN, str(job.job_id), 2)


class WatchedRun(SqlJobRun):
    """Looks at the job row from outside the import's transaction at every report."""

    def __init__(
        self, connection: psycopg.Connection[Any], job_id: uuid.UUID, connect: Connect
    ) -> None:
        super().__init__(connection, job_id)
        self._connect = connect
        self.seen: list[tuple[str, int, int]] = []

    def update(self, status: JobStatus, percent: int, counts: Counts) -> None:
        super().update(status, percent, counts)
        with self._connect() as outside:
            row = outside.execute(
                "SELECT status, progress_percent, rows_validated FROM roster_imports"
                " WHERE job_id = %s",
                (self._job_id,),
            ).fetchone()
        assert row is not None
        self.seen.append((row[0], row[1], row[2]))


async def test_progress_is_visible_while_the_import_runs(world: World) -> None:
    job = await world.imports.start(ADMIN, RosterFormat.CSV, SCHOOL)
    data = roster([student(n) for n in range(9)])
    await world.imports.append(ADMIN, str(job.job_id), 0, data)

    with world.connect() as side:
        side.autocommit = True
        run = WatchedRun(side, job.job_id, world.connect)
        outcome = await asyncio.to_thread(
            world.importer.run, SCHOOL, run.source(RosterFormat.CSV, len(data)), run
        )

    assert outcome.status is JobStatus.SUCCEEDED
    statuses = [status for status, _, _ in run.seen]
    assert "validating" in statuses
    assert "applying" in statuses
    percents = [percent for _, percent, _ in run.seen]
    assert percents == sorted(percents)
    assert percents[0] < percents[-1]
    assert next(validated for _, _, validated in run.seen if validated) < 9


@pytest.fixture
def xlsx_roster() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["学籍号", "姓名", "性别", "出生日期", "身份证件号", "学校标识码", "年级", "班级"])
    for n in range(3):
        row = student(n)
        sheet.append(
            [
                row["学籍号"],
                row["姓名"],
                "女" if n == 9 else "男",
                datetime(2012, 1 + n % 12, 1 + n % 28),
                row["身份证件号"],
                SCHOOL,
                "2024级",
                f"{1 + n}班",
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_xlsx_roster_is_imported(world: World, xlsx_roster: bytes) -> None:
    job = await upload(world, xlsx_roster, fmt=RosterFormat.XLSX)

    assert job.status is JobStatus.SUCCEEDED, job.errors
    assert job.counts.rows_created == 3


class FakeVerifier:
    """Stands in for Keycloak: every bearer token is the school's admin."""

    async def verify(self, token: str) -> Any:
        return ADMIN


async def test_the_rpcs_end_to_end_through_the_grpc_server(world: World) -> None:
    import grpc

    from identity.api.roster_servicer import RosterServicer
    from xinyu.identity.v1 import roster_pb2, roster_pb2_grpc
    from xinyu_core.grpc.server import Registration, build_server

    server = build_server(
        "127.0.0.1:0",
        [
            Registration(
                "xinyu.identity.v1.RosterService",
                roster_pb2_grpc.add_RosterServiceServicer_to_server,
                RosterServicer(world.imports),
            )
        ],
        FakeVerifier(),  # type: ignore[arg-type]
        reflection_enabled=False,
    )
    await server.start()
    metadata = (("authorization", "Bearer test"),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = roster_pb2_grpc.RosterServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.StartRosterImport(
                    roster_pb2.StartRosterImportRequest(), metadata=metadata
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            started = await stub.StartRosterImport(
                roster_pb2.StartRosterImportRequest(
                    format=roster_pb2.ROSTER_FORMAT_CSV, scope_code=SCHOOL
                ),
                metadata=metadata,
            )
            job_id = started.roster_import.job_id
            data = roster([student(n) for n in range(4)])
            for sequence, start in enumerate(range(0, len(data), 64)):
                await stub.AppendRosterChunk(
                    roster_pb2.AppendRosterChunkRequest(
                        job_id=job_id, sequence=sequence, data=data[start : start + 64]
                    ),
                    metadata=metadata,
                )
            await stub.CommitRosterImport(
                roster_pb2.CommitRosterImportRequest(job_id=job_id), metadata=metadata
            )
            for _ in range(300):
                reply = await stub.GetRosterImport(
                    roster_pb2.GetRosterImportRequest(job_id=job_id), metadata=metadata
                )
                if reply.roster_import.status == roster_pb2.ROSTER_IMPORT_STATUS_SUCCEEDED:
                    break
                await asyncio.sleep(0.05)
            job = reply.roster_import
            assert job.status == roster_pb2.ROSTER_IMPORT_STATUS_SUCCEEDED
            assert (job.rows_total, job.rows_created, job.progress_percent) == (4, 4, 100)
            assert job.HasField("finished_at")
    finally:
        await server.stop(0)


async def test_a_job_whose_process_died_reads_as_failed(world: World) -> None:
    job = await world.imports.start(ADMIN, RosterFormat.CSV, SCHOOL)
    await world.imports.append(ADMIN, str(job.job_id), 0, b"x")
    with world.connect() as connection:
        # What a pod that died mid-import leaves: a running job nobody updates any more.
        connection.execute(
            "UPDATE roster_imports SET status = 'applying', updated_at = now() - interval '1 hour'"
            " WHERE job_id = %s",
            (job.job_id,),
        )
        connection.commit()

    found = await world.imports.get(ADMIN, str(job.job_id), 10)

    assert found.status is JobStatus.FAILED
    assert "interrupted" in found.failure
    assert world.query("SELECT count(*) FROM roster_import_chunks") == [(0,)]
