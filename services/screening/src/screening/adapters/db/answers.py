"""The answering hot path (SubmitAnswers) on psycopg's own connection, inside one transaction.

The same statements through SQLAlchemy's ORM session cost about twice the CPU per submission
(its greenlet bridge and per-statement machinery), and SubmitAnswers must sustain hundreds a
second on two cores. A submission is four round trips: BEGIN, the participant by primary key,
one statement that discards the draft, stores the result and its ResultRecorded outbox row
(the row only when the result was stored now), COMMIT. Connections come from a SQLAlchemy pool
of their own without pre-ping (bootstrap); outbox rows are the chassis's (``OutboxWriter.row``).

The relay is woken after the commit only when a flag was raised (``urgent``): a flag must reach
alerts at once, while recorded results ride the relay's next poll (at most a second later) in
batches, instead of one relay pass per submission.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncEngine

from screening.adapters.db.repository import RESULT_COLUMNS, _participant, _result
from screening.adapters.messaging.events import event_of
from screening.domain.model import (
    CampaignStatus,
    DomainEvent,
    GuardianTask,
    Result,
    ResultRecorded,
    SittingSeat,
)
from xinyu_core.messaging import OutboxWriter

_SEAT = (
    "SELECT p.*, s.expires_at AS sitting_expires_at, c.status AS campaign_status,"
    " c.closes_at AS campaign_closes_at"
    " FROM participants p JOIN sittings s ON s.sitting_id = p.sitting_id"
    " JOIN campaigns c ON c.campaign_id = p.campaign_id"
    " WHERE p.sitting_id = %(sitting_id)s AND p.student_id = %(student_id)s"
)
_RESULT = "SELECT * FROM results WHERE submission_id = %(submission_id)s"
_ADD_RESULT = (
    "WITH discarded AS ("  # noqa: S608 - column names and placeholders only
    " DELETE FROM drafts WHERE campaign_id = %(campaign_id)s AND student_id = %(student_id)s"
    " AND instrument_id = %(instrument_id)s),"
    f" stored AS (INSERT INTO results ({', '.join(RESULT_COLUMNS)})"
    f" VALUES ({', '.join(f'%({name})s' for name in RESULT_COLUMNS)})"
    " ON CONFLICT DO NOTHING RETURNING submission_id),"
    # The event exists exactly when the result was stored now.
    " announced AS (INSERT INTO outbox (event_id, topic, key, payload, headers)"
    " SELECT %(event_id)s, %(topic)s, %(key)s, %(payload)s, %(headers)s FROM stored)"
    " SELECT submission_id FROM stored"
)
_OUTBOX = (
    "INSERT INTO outbox (event_id, topic, key, payload, headers)"
    " VALUES (%(event_id)s, %(topic)s, %(key)s, %(payload)s, %(headers)s)"
)
_RANK = "CASE {} WHEN 'green' THEN 0 WHEN 'yellow' THEN 1 WHEN 'orange' THEN 2 ELSE 3 END"
_OPEN_TASK = (
    "INSERT INTO guardian_tasks (task_id, student_id, submission_id, school_code, county_code,"  # noqa: S608
    " class_code, level, cause, status, due_at, created_at)"
    " VALUES (%(task_id)s, %(student_id)s, %(submission_id)s, %(school_code)s,"
    " %(county_code)s, %(class_code)s, %(level)s, %(cause)s, %(status)s, %(due_at)s,"
    " %(created_at)s)"
    " ON CONFLICT (submission_id) DO UPDATE SET level = EXCLUDED.level"
    " WHERE guardian_tasks.status = 'open'"
    f" AND {_RANK.format('EXCLUDED.level')} > {_RANK.format('guardian_tasks.level')}"
)


def result_values(result: Result) -> dict[str, Any]:
    return {
        "submission_id": result.submission_id,
        "campaign_id": result.campaign_id,
        "student_id": result.student_id,
        "sitting_id": result.sitting_id,
        "school_code": result.school_code,
        "county_code": result.county_code,
        "class_code": result.class_code,
        "instrument_id": result.instrument.instrument_id,
        "version": result.instrument.version,
        "policy_version": result.policy_version,
        "submitted_at": result.submitted_at,
        "suggested_level": result.suggested_level.value if result.suggested_level else None,
        "critical": result.critical,
        "valid": result.valid,
        "answers_cipher": result.answers_cipher,
        "detail_cipher": result.detail_cipher,
    }


class PgAnswers:
    """What SubmitAnswers needs (``screening.domain.ports.AnswerRepository``)."""

    def __init__(self, connection: AsyncConnection[Any], writer: OutboxWriter) -> None:
        self._connection = connection
        self._writer = writer
        # Whether an event that must go out at once (a flag) was written.
        self.urgent = False

    async def _one(self, query: str, params: dict[str, Any]) -> Any:
        async with self._connection.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(query, params)
            return await cursor.fetchone()

    async def seat(self, sitting_id: UUID, student_id: UUID) -> SittingSeat | None:
        row = await self._one(_SEAT, {"sitting_id": sitting_id, "student_id": student_id})
        if row is None:
            return None
        return SittingSeat(
            participant=_participant(row),
            expires_at=min(row.sitting_expires_at, row.campaign_closes_at),
            campaign_running=row.campaign_status == CampaignStatus.OPEN.value,
        )

    async def result(self, submission_id: UUID) -> Result | None:
        row = await self._one(_RESULT, {"submission_id": submission_id})
        return _result(row) if row is not None else None

    async def add_result(self, result: Result, recorded: ResultRecorded) -> bool:
        params = {**result_values(result), **self._outbox_row(recorded)}
        stored = await self._one(_ADD_RESULT, params) is not None
        return stored

    def _outbox_row(self, event: DomainEvent) -> dict[str, Any]:
        topic, message = event_of(event)
        row = self._writer.row(topic, message)
        return {**row, "headers": Jsonb(row["headers"])}

    async def publish(self, event: DomainEvent) -> None:
        await self._connection.execute(_OUTBOX, self._outbox_row(event))
        self.urgent = True

    async def open_task(self, task: GuardianTask) -> None:
        await self._connection.execute(
            _OPEN_TASK,
            {
                "task_id": task.task_id,
                "student_id": task.student_id,
                "submission_id": task.submission_id,
                "school_code": task.school_code,
                "county_code": task.county_code,
                "class_code": task.class_code,
                "level": task.level.value,
                "cause": task.cause,
                "status": task.status.value,
                "due_at": task.due_at,
                "created_at": task.created_at,
            },
        )


class PgAnswerStore:
    """``async with store() as answers``: one transaction on a pooled connection."""

    def __init__(self, engine: AsyncEngine, writer: OutboxWriter) -> None:
        self._engine = engine
        self._writer = writer

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[PgAnswers]:
        async with self._engine.connect() as pooled:
            raw = await pooled.get_raw_connection()
            connection: AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            answers = PgAnswers(connection, self._writer)
            async with connection.transaction():
                yield answers
        if answers.urgent:
            self._writer.committed()
