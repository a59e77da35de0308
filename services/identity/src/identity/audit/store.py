"""The audit log's queries: append under one lock, page through, and walk the chain.

Appends are serialised by a transaction-scoped advisory lock, so each one reads the head the
previous one committed and the chain stays linear however many consumers run; the lock is
released by the same commit or rollback that ends the append. ``seq`` is the head's plus one,
so numbers have no gaps, and the primary key would refuse a second record at the same place
even if a writer bypassed the lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.chain import GENESIS_HASH, AuditEntry, ChainedEntry, chain


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor asks for; ``None``/empty means "any"."""

    actor_subject: uuid.UUID | None = None
    resource_id: str = ""
    outcome: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None


class PostgresAuditLog:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._lock_name = f"xinyu.audit:{table.fullname}"

    @property
    def table(self) -> Table:
        return self._table

    async def lock(self, session: AsyncSession) -> None:
        """Wait for the append lock; held until ``session``'s transaction ends."""
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(literal(self._lock_name))))
        )

    async def contains(self, session: AsyncSession, event_id: uuid.UUID) -> bool:
        t = self._table
        return bool(await session.scalar(select(exists().where(t.c.event_id == event_id))))

    async def head(self, session: AsyncSession) -> tuple[int, str]:
        """``(seq, hash)`` of the last record, or ``(0, GENESIS_HASH)`` for an empty log."""
        t = self._table
        row = (
            await session.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1))
        ).first()
        return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS_HASH)

    async def append(self, session: AsyncSession, entry: AuditEntry) -> ChainedEntry | None:
        """Chain ``entry`` (its ``seq`` is assigned here) onto the head; None if its event is
        already recorded. Runs in the caller's transaction."""
        await self.lock(session)
        if await self.contains(session, entry.event_id):
            return None
        head_seq, head_hash = await self.head(session)
        record = chain(head_hash, replace(entry, seq=head_seq + 1))
        await session.execute(insert(self._table).values(**_columns(record)))
        return record

    async def page(
        self,
        session: AsyncSession,
        wanted: AuditFilter,
        *,
        before_seq: int | None,
        limit: int,
    ) -> list[ChainedEntry]:
        """Up to ``limit`` matching records, newest first, all below ``before_seq`` if given."""
        t = self._table
        query = self._select().order_by(t.c.seq.desc()).limit(limit)
        if before_seq is not None:
            query = query.where(t.c.seq < before_seq)
        if wanted.actor_subject is not None:
            query = query.where(t.c.actor_subject == wanted.actor_subject)
        if wanted.resource_id:
            query = query.where(t.c.resource_id == wanted.resource_id)
        if wanted.outcome is not None:
            query = query.where(t.c.outcome == wanted.outcome)
        if wanted.occurred_after is not None:
            query = query.where(t.c.occurred_at >= wanted.occurred_after)
        if wanted.occurred_before is not None:
            query = query.where(t.c.occurred_at < wanted.occurred_before)
        return [_record(row) for row in (await session.execute(query)).all()]

    async def walk(
        self, session: AsyncSession, *, after_seq: int, limit: int
    ) -> list[ChainedEntry]:
        """The next ``limit`` records in chain order after ``after_seq``."""
        t = self._table
        query = self._select().where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit)
        return [_record(row) for row in (await session.execute(query)).all()]

    def _select(self) -> Select[Any]:
        return select(self._table)


class AuditLogInbox:
    """The chassis consumer's inbox, answered by the audit log itself.

    The log is the effect, so "already applied" means "already in the log"; a separate inbox
    table would be a second copy of the same fact. ``claim`` takes the append lock first, so
    the check and the append that follows in the same transaction cannot race another
    consumer. Replays under another consumer group are deduplicated the same way.
    """

    def __init__(self, log: PostgresAuditLog) -> None:
        self._log = log

    async def claim(
        self, session: AsyncSession, consumer_group: str, event_id: uuid.UUID, topic: str
    ) -> bool:
        await self._log.lock(session)
        return not await self._log.contains(session, event_id)


def _columns(record: ChainedEntry) -> dict[str, Any]:
    entry = record.entry
    return {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at,
        "producer": entry.producer,
        "actor_subject": entry.actor_subject,
        "actor_roles": list(entry.actor_roles),
        "actor_org_unit": entry.actor_org_unit,
        "actor_client_id": entry.actor_client_id,
        "service": entry.service,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "purpose": entry.purpose,
        "trace_id": entry.trace_id,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _record(row: Row[Any]) -> ChainedEntry:
    values = row._mapping
    entry = AuditEntry(
        seq=int(values["seq"]),
        event_id=values["event_id"],
        occurred_at=values["occurred_at"],
        recorded_at=values["recorded_at"],
        producer=values["producer"],
        actor_subject=values["actor_subject"],
        actor_roles=tuple(values["actor_roles"]),
        actor_org_unit=values["actor_org_unit"],
        actor_client_id=values["actor_client_id"],
        service=values["service"],
        action=values["action"],
        resource_type=values["resource_type"],
        resource_id=values["resource_id"],
        outcome=values["outcome"],
        reason=values["reason"],
        purpose=values["purpose"],
        trace_id=values["trace_id"],
    )
    return ChainedEntry(entry=entry, prev_hash=values["prev_hash"], hash=values["hash"])


__all__ = ["AuditFilter", "AuditLogInbox", "PostgresAuditLog"]
