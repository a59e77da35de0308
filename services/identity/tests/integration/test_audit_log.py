"""The audit log in the real PostgreSQL: linear under concurrent appends, deduplicated by event
id, append-only by trigger, and tampering (by someone who can switch the trigger off) found.

Each test gets a throwaway schema with its own ``audit_log``, so nothing here depends on the
migration or touches the service's own table.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy.exc
from sqlalchemy import MetaData, Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from identity.audit.chain import GENESIS_HASH, HASH_MISMATCH, SEQ_GAP, AuditEntry
from identity.audit.store import AuditFilter, AuditLogInbox, PostgresAuditLog
from identity.audit.tables import audit_log_table
from identity.audit.trail import verify_log
from xinyu_core.db import make_engine, make_session_factory

pytestmark = pytest.mark.integration

DATABASE_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
SUBJECT = uuid.UUID("0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21")
START = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = make_engine(DATABASE_URL, pool_size=8)
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    schema = f"tests_audit_{uuid.uuid4().hex[:12]}"
    created = audit_log_table(MetaData(), schema=schema)
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(created.metadata.create_all)
    try:
        yield created
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


def entry(n: int, **overrides: object) -> AuditEntry:
    base = AuditEntry(
        seq=0,
        event_id=uuid.uuid4(),
        occurred_at=START + timedelta(seconds=n, microseconds=123_456),
        recorded_at=START + timedelta(seconds=n, milliseconds=7),
        producer="archives",
        actor_subject=SUBJECT,
        actor_roles=("psych_teacher",),
        actor_org_unit="3607020001",
        actor_client_id="xinyu-web",
        service="archives",
        action="/xinyu.archives.v1.ArchivesService/GetArchive",
        resource_type="student",
        resource_id=str(uuid.uuid4()),
        outcome="DENIED",
        reason="permission-denied",
        purpose="",
        trace_id="",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


async def append(
    sessions: async_sessionmaker[AsyncSession], log: PostgresAuditLog, item: AuditEntry
) -> bool:
    async with sessions.begin() as session:
        return await log.append(session, item) is not None


async def test_concurrent_appends_make_one_gapless_linear_chain(
    table: Table, sessions: async_sessionmaker[AsyncSession]
) -> None:
    log = PostgresAuditLog(table)
    appended = await asyncio.gather(*(append(sessions, log, entry(n)) for n in range(16)))
    assert all(appended)
    async with sessions.begin() as session:
        records = await log.walk(session, after_seq=0, limit=100)
    assert [r.entry.seq for r in records] == list(range(1, 17))
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    report = await verify_log(sessions, log, batch=5)
    assert report.intact
    assert (report.checked, report.head_seq, report.head_hash) == (16, 16, records[-1].hash)


async def test_what_is_stored_is_what_was_hashed(
    table: Table, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Microseconds, roles and the UUID type survive the round trip, so verification recomputes
    # the very hash the append computed.
    log = PostgresAuditLog(table)
    async with sessions.begin() as session:
        stored = await log.append(session, entry(1, actor_roles=("b_role", "a_role")))
    async with sessions.begin() as session:
        [read] = await log.walk(session, after_seq=0, limit=10)
    assert stored is not None
    assert read.hash == stored.hash
    assert read.entry.occurred_at == stored.entry.occurred_at
    assert (await verify_log(sessions, log)).intact


async def test_a_known_event_is_not_appended_twice(
    table: Table, sessions: async_sessionmaker[AsyncSession]
) -> None:
    log = PostgresAuditLog(table)
    item = entry(1)
    assert await append(sessions, log, item)
    assert not await append(sessions, log, replace(item, recorded_at=START))
    async with sessions.begin() as session:
        assert not await AuditLogInbox(log).claim(session, "identity", item.event_id, "t")
        assert await AuditLogInbox(log).claim(session, "identity", uuid.uuid4(), "t")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(table)) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {t} SET reason = 'nothing-to-see'",
        "UPDATE {t} SET outcome = 'ALLOWED' WHERE false",
        "DELETE FROM {t}",
        "DELETE FROM {t} WHERE seq = 1",
        "TRUNCATE {t}",
    ],
)
async def test_the_database_refuses_to_change_or_remove_records(
    table: Table, sessions: async_sessionmaker[AsyncSession], statement: str
) -> None:
    log = PostgresAuditLog(table)
    assert await append(sessions, log, entry(1))
    qualified = f'"{table.schema}"."{table.name}"'
    with pytest.raises(sqlalchemy.exc.DBAPIError) as refused:
        async with sessions.begin() as session:
            await session.execute(text(statement.format(t=qualified)))
    assert "append-only" in str(refused.value.orig)
    assert getattr(refused.value.orig, "sqlstate", None) == "42501"  # insufficient_privilege
    assert (await verify_log(sessions, log)).checked == 1


async def disable_guard(session: AsyncSession, table: Table) -> None:
    """What only the table's owner (or a superuser) can do, and the chain still exposes."""
    qualified = f'"{table.schema}"."{table.name}"'
    await session.execute(text(f"ALTER TABLE {qualified} DISABLE TRIGGER {table.name}_append_only"))


async def test_an_edit_behind_the_triggers_back_is_found_by_verification(
    table: Table, sessions: async_sessionmaker[AsyncSession]
) -> None:
    log = PostgresAuditLog(table)
    for n in range(4):
        assert await append(sessions, log, entry(n))
    async with sessions.begin() as session:
        await disable_guard(session, table)
        await session.execute(update(table).where(table.c.seq == 3).values(outcome="ALLOWED"))
    report = await verify_log(sessions, log)
    assert (report.intact, report.first_broken_seq, report.problem) == (False, 3, HASH_MISMATCH)


async def test_a_deletion_behind_the_triggers_back_is_found_by_verification(
    table: Table, sessions: async_sessionmaker[AsyncSession]
) -> None:
    log = PostgresAuditLog(table)
    for n in range(4):
        assert await append(sessions, log, entry(n))
    async with sessions.begin() as session:
        await disable_guard(session, table)
        await session.execute(table.delete().where(table.c.seq == 2))
    report = await verify_log(sessions, log)
    assert (report.first_broken_seq, report.problem) == (3, SEQ_GAP)


async def test_pages_filter_by_actor_resource_outcome_and_time(
    table: Table, sessions: async_sessionmaker[AsyncSession]
) -> None:
    log = PostgresAuditLog(table)
    other = uuid.uuid4()
    student = str(uuid.uuid4())
    await append(sessions, log, entry(1))
    await append(sessions, log, entry(2, actor_subject=other, resource_id=student))
    await append(sessions, log, entry(3, outcome="ALLOWED", reason="sensitive-read"))
    await append(sessions, log, entry(4, resource_id=student))

    async def seqs(wanted: AuditFilter, before: int | None = None) -> list[int]:
        async with sessions.begin() as session:
            found = await log.page(session, wanted, before_seq=before, limit=10)
        return [r.entry.seq for r in found]

    assert await seqs(AuditFilter()) == [4, 3, 2, 1]
    assert await seqs(AuditFilter(), before=3) == [2, 1]
    assert await seqs(AuditFilter(actor_subject=other)) == [2]
    assert await seqs(AuditFilter(resource_id=student)) == [4, 2]
    assert await seqs(AuditFilter(outcome="ALLOWED")) == [3]
    after = START + timedelta(seconds=2)
    before = START + timedelta(seconds=4)
    assert await seqs(AuditFilter(occurred_after=after, occurred_before=before)) == [3, 2]
