"""The answering hot path (SubmitAnswers) on psycopg's own connection, in autocommit.

A submission is two round trips: the participant with its sitting and campaign by primary key,
then one statement that discards the draft, stores the result and, only if the result is new,
writes its outbox rows (ResultRecorded; ResultFlagged when a critical rule fired) and the flag's
guardian task. One statement is atomic by itself, so no BEGIN/COMMIT round trips are needed:
the read before it only decides whether to try, and the unique keys decide races.

Why not SQLAlchemy's ORM session here: the same work through it cost about twice the CPU per
submission (its greenlet bridge, per-statement machinery, and a transaction's two extra round
trips), and SubmitAnswers must sustain hundreds a second on two cores. Connections come from a
SQLAlchemy pool of their own, in AUTOCOMMIT and without pre-ping (bootstrap); the outbox rows
are the chassis's (``OutboxWriter.row``).

The relay is woken after the statement only when a flag was raised: a flag must reach alerts at
once, while recorded results ride the relay's next poll (at most a second later) in batches,
instead of one relay pass per submission.
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
    ResultFlagged,
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
_TASK_COLUMNS = (
    "task_id",
    "student_id",
    "submission_id",
    "school_code",
    "county_code",
    "class_code",
    "level",
    "cause",
    "status",
    "due_at",
    "created_at",
)


def _event_values(n: int) -> str:
    return (
        f"(%(e{n}_event_id)s::uuid, %(e{n}_topic)s, %(e{n}_key)s, %(e{n}_payload)s::bytea,"
        f" %(e{n}_headers)s::jsonb)"
    )


def _record_statement(events: int, task: bool) -> str:
    """Column names and placeholders only: no input is formatted into the SQL."""
    parts = [
        "WITH discarded AS (DELETE FROM drafts WHERE campaign_id = %(campaign_id)s"
        " AND student_id = %(student_id)s AND instrument_id = %(instrument_id)s),",
        f" stored AS (INSERT INTO results ({', '.join(RESULT_COLUMNS)})",
        f" VALUES ({', '.join(f'%({name})s' for name in RESULT_COLUMNS)})",
        " ON CONFLICT DO NOTHING RETURNING submission_id),",
        # The rows exist exactly when the result was stored now.
        " announced AS (INSERT INTO outbox (event_id, topic, key, payload, headers)",
        " SELECT v.* FROM (VALUES ",
        ", ".join(_event_values(n) for n in range(events)),
        ") AS v (event_id, topic, key, payload, headers) WHERE EXISTS (SELECT 1 FROM stored))",
    ]
    if task:
        parts += [
            f", tasked AS (INSERT INTO guardian_tasks ({', '.join(_TASK_COLUMNS)})",
            f" SELECT {', '.join(f'%(t_{name})s' for name in _TASK_COLUMNS)}",
            " WHERE EXISTS (SELECT 1 FROM stored) ON CONFLICT (submission_id) DO NOTHING)",
        ]
    parts.append(" SELECT submission_id FROM stored")
    return "".join(parts)


_RECORD = _record_statement(1, task=False)
_RECORD_FLAGGED = _record_statement(2, task=True)


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


def task_values(task: GuardianTask) -> dict[str, Any]:
    values = {name: getattr(task, name) for name in _TASK_COLUMNS}
    values["level"], values["status"] = task.level.value, task.status.value
    return {f"t_{name}": value for name, value in values.items()}


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

    def _event(self, n: int, event: DomainEvent) -> dict[str, Any]:
        topic, message = event_of(event)
        row = self._writer.row(topic, message)
        row["headers"] = Jsonb(row["headers"])
        return {f"e{n}_{name}": value for name, value in row.items()}

    async def add_result(
        self,
        result: Result,
        recorded: ResultRecorded,
        flagged: ResultFlagged | None = None,
        task: GuardianTask | None = None,
    ) -> bool:
        params = {**result_values(result), **self._event(0, recorded)}
        if flagged is None or task is None:
            statement = _RECORD
        else:
            statement = _RECORD_FLAGGED
            params |= self._event(1, flagged) | task_values(task)
        stored = await self._one(statement, params) is not None
        self.urgent = stored and flagged is not None
        return stored


class PgAnswerStore:
    """``async with store() as answers``: a pooled connection in autocommit."""

    def __init__(self, engine: AsyncEngine, writer: OutboxWriter) -> None:
        self._engine = engine
        self._writer = writer

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[PgAnswers]:
        async with self._engine.connect() as pooled:
            raw = await pooled.get_raw_connection()
            connection: AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            if not connection.autocommit:
                # Outside autocommit the write would wait for a COMMIT nobody sends.
                raise RuntimeError("SubmitAnswers needs an engine in AUTOCOMMIT")
            answers = PgAnswers(connection, self._writer)
            yield answers
        if answers.urgent:
            self._writer.committed()
