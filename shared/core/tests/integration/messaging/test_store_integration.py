"""The outbox and inbox queries on the real PostgreSQL: claiming, one relay at a time, purging,
and the housekeeping that purges on a timer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xinyu.events.v1 import identity_pb2
from xinyu_core.messaging import (
    MessagingHousekeeping,
    OutboxWriter,
    PostgresInbox,
    PostgresOutbox,
    Purged,
    stamp,
)
from xinyu_core.settings import HousekeepingSettings

pytestmark = pytest.mark.integration

SCRATCH = "platform.test.scratch.v1"


def enrolled() -> identity_pb2.StudentEnrolled:
    student = str(uuid.uuid4())
    message = identity_pb2.StudentEnrolled(student_id=student, school_code="3607020001")
    message.enrolled_at.FromDatetime(datetime(2025, 9, 1, tzinfo=UTC))
    stamp(message, "identity", student)
    return message


async def _store(sessions: async_sessionmaker[AsyncSession], tables: Any, count: int) -> list[str]:
    writer = OutboxWriter(tables.outbox)
    events = [enrolled() for _ in range(count)]
    async with sessions.begin() as session:
        for event in events:
            await writer.add(session, SCRATCH, event)
    return [event.meta.event_id for event in events]


async def test_claim_returns_unpublished_rows_in_write_order(
    sessions: async_sessionmaker[AsyncSession], tables: Any
) -> None:
    written = await _store(sessions, tables, 5)
    store = PostgresOutbox(tables.outbox)
    async with sessions.begin() as session:
        claimed = await store.claim(session, limit=3)
        assert [str(e.event_id) for e in claimed] == written[:3]
        assert claimed[0].headers["x-event-id"] == written[0]
        await store.mark_published(session, [e.id for e in claimed])
    async with sessions.begin() as session:
        rest = await store.claim(session, limit=10)
    assert [str(e.event_id) for e in rest] == written[3:]


async def test_only_one_relay_claims_at_a_time(
    sessions: async_sessionmaker[AsyncSession], tables: Any
) -> None:
    await _store(sessions, tables, 2)
    store = PostgresOutbox(tables.outbox)
    async with sessions.begin() as first:
        assert len(await store.claim(first, limit=10)) == 2
        # A second replica's relay, while the first still holds its batch: it must not publish
        # anything, or the two could interleave one student's events.
        async with sessions.begin() as second:
            assert await store.claim(second, limit=10) == []
    async with sessions.begin() as later:
        assert len(await store.claim(later, limit=10)) == 2  # released by the first's commit


async def test_purge_deletes_only_old_published_rows(
    sessions: async_sessionmaker[AsyncSession], tables: Any
) -> None:
    await _store(sessions, tables, 3)
    store = PostgresOutbox(tables.outbox)
    async with sessions.begin() as session:
        claimed = await store.claim(session, limit=2)
        await store.mark_published(session, [e.id for e in claimed])
    async with sessions.begin() as session:
        assert await store.purge_published(session, older_than=timedelta(days=1)) == 0
        assert await store.purge_published(session, older_than=timedelta(0)) == 2
    async with sessions() as session:
        remaining = list(await session.scalars(select(tables.outbox.c.published_at)))
    assert remaining == [None]  # the unpublished row is never purged


async def test_inbox_claims_once_per_group_and_purges(
    sessions: async_sessionmaker[AsyncSession], tables: Any
) -> None:
    inbox = PostgresInbox(tables.inbox)
    event_id = uuid.uuid4()
    async with sessions.begin() as session:
        assert await inbox.claim(session, "tests-a", event_id, SCRATCH)
        assert not await inbox.claim(session, "tests-a", event_id, SCRATCH)
        assert await inbox.claim(session, "tests-b", event_id, SCRATCH)
    async with sessions.begin() as session:
        assert await inbox.purge(session, older_than=timedelta(days=1)) == 0
        assert await inbox.purge(session, older_than=timedelta(0)) == 2


async def test_inbox_claims_many_in_one_statement(
    sessions: async_sessionmaker[AsyncSession], tables: Any
) -> None:
    inbox = PostgresInbox(tables.inbox)
    seen, new_one, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with sessions.begin() as session:
        assert await inbox.claim(session, "tests-a", seen, SCRATCH)
    async with sessions.begin() as session:
        claimed = await inbox.claim_many(
            session, "tests-a", [(seen, SCRATCH), (new_one, SCRATCH), (other, SCRATCH)]
        )
    assert claimed == {new_one, other}


async def test_housekeeping_deletes_old_rows_in_batches_and_keeps_the_rest(
    sessions: async_sessionmaker[AsyncSession], tables: Any
) -> None:
    await _store(sessions, tables, 5)
    store = PostgresOutbox(tables.outbox)
    async with sessions.begin() as session:
        claimed = await store.claim(session, limit=4)
        await store.mark_published(session, [e.id for e in claimed])
        # Three published long ago, one published now, one never published.
        await session.execute(
            tables.outbox.update()
            .where(tables.outbox.c.id.in_([e.id for e in claimed[:3]]))
            .values(published_at=datetime.now(UTC) - timedelta(days=8))
        )
    inbox = PostgresInbox(tables.inbox)
    async with sessions.begin() as session:
        for _ in range(3):
            await inbox.claim(session, "tests-a", uuid.uuid4(), SCRATCH)
        await session.execute(
            tables.inbox.update().values(received_at=datetime.now(UTC) - timedelta(days=40))
        )
        await inbox.claim(session, "tests-a", uuid.uuid4(), SCRATCH)  # received now

    housekeeping = MessagingHousekeeping(
        sessions, HousekeepingSettings(batch=2), outbox=tables.outbox, inbox=tables.inbox
    )
    purged = await housekeeping.run_once()

    assert purged == Purged(outbox=3, inbox=3)
    async with sessions() as session:
        kept = list(await session.scalars(select(tables.outbox.c.published_at)))
        inbox_left = len(list(await session.scalars(select(tables.inbox.c.event_id))))
    assert len(kept) == 2  # the one published now, and the unpublished one (never purged)
    assert None in kept
    assert inbox_left == 1
    assert await housekeeping.run_once() == Purged(outbox=0, inbox=0)
