"""Inbox: the record of which events a consumer group has already applied.

Kafka delivers at least once and the outbox relay may send an event twice, so a consumer inserts
``(consumer group, event id)`` in the same transaction as the effect. If the row already exists
the event was applied before and the handler is skipped; the unique key makes that true even when
two consumers race on the same event after a rebalance.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession


def inbox_table(metadata: MetaData, *, name: str = "inbox", schema: str | None = None) -> Table:
    """The inbox, added to a service's own MetaData so its Alembic history creates it."""
    return Table(
        name,
        metadata,
        # The composite primary key is the dedupe rule: once per event per consumer group.
        Column("consumer_group", Text, primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("topic", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"ix_{name}_received_at", "received_at"),
        schema=schema,
    )


class Inbox(Protocol):
    async def claim(
        self, session: AsyncSession, consumer_group: str, event_id: uuid.UUID, topic: str
    ) -> bool:
        """Record the event; True if it is new, False if this group has already applied it."""
        ...


class BatchInbox(Inbox, Protocol):
    async def claim_many(
        self, session: AsyncSession, consumer_group: str, events: Sequence[tuple[uuid.UUID, str]]
    ) -> set[uuid.UUID]:
        """Record many (event id, topic) pairs in one statement; the ids that were new."""
        ...


class PostgresInbox:
    def __init__(self, table: Table) -> None:
        self._table = table

    async def claim(
        self, session: AsyncSession, consumer_group: str, event_id: uuid.UUID, topic: str
    ) -> bool:
        t = self._table
        statement = (
            pg_insert(t)
            .values(consumer_group=consumer_group, event_id=event_id, topic=topic)
            .on_conflict_do_nothing(index_elements=[t.c.consumer_group, t.c.event_id])
            .returning(t.c.event_id)
        )
        return (await session.execute(statement)).first() is not None

    async def claim_many(
        self, session: AsyncSession, consumer_group: str, events: Sequence[tuple[uuid.UUID, str]]
    ) -> set[uuid.UUID]:
        if not events:
            return set()
        t = self._table
        statement = (
            pg_insert(t)
            .values(
                [
                    {"consumer_group": consumer_group, "event_id": event_id, "topic": topic}
                    for event_id, topic in events
                ]
            )
            .on_conflict_do_nothing(index_elements=[t.c.consumer_group, t.c.event_id])
            .returning(t.c.event_id)
        )
        return set((await session.execute(statement)).scalars())

    async def purge(
        self, session: AsyncSession, older_than: timedelta, limit: int | None = None
    ) -> int:
        """Forget events received more than ``older_than`` ago (at most ``limit`` of them).

        Keep ``older_than`` well beyond the retention of every topic the group reads (and of the
        outbox's unpublished backlog): a redelivery older than the inbox would be applied again.
        """
        t = self._table
        old = t.c.received_at < func.now() - literal(older_than)
        if limit is None:
            statement = t.delete().where(old)
        else:
            chosen = (
                select(t.c.consumer_group, t.c.event_id)
                .where(old)
                .order_by(t.c.received_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            statement = t.delete().where(tuple_(t.c.consumer_group, t.c.event_id).in_(chosen))
        result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)
