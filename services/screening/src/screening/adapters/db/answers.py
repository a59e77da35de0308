"""The answering hot path (SubmitAnswers) on psycopg's own connections, in autocommit, with
group commit.

Submissions that arrive together are read and written together: their participants (each with
its sitting and campaign) by one query, their results by one statement that discards the drafts,
stores the results and, only for the results stored now, writes their outbox rows
(ResultRecorded; ResultFlagged when a critical rule fired) and the flags' guardian tasks. A
batch closes ``window`` seconds after its first submission (5 ms) or at ``most`` submissions
(64), whichever comes first. One statement is one transaction in autocommit: atomic by itself,
and each caller is answered only after it returned, so after its row committed. The unique keys
still decide resends and races (``ON CONFLICT DO NOTHING``; a result not stored now gets no
events). Everything a caller can get wrong (answers, instrument, sitting) is checked before its
submission joins a batch; should a batch's statement fail anyway, its submissions are written
one by one with the single statement, so one bad row fails only its own caller.

Why: per submission, a pooled connection's checkout, two statements and two commits cost more
CPU, in screening and in PostgreSQL, than the scoring; under load one checkout, one query and
one statement serve a whole batch.

Why not SQLAlchemy's ORM session here: the same work through it cost about twice the CPU per
submission (its greenlet bridge, per-statement machinery, and a transaction's two extra round
trips). Connections come from a SQLAlchemy pool of their own, in AUTOCOMMIT and without
pre-ping (bootstrap); the outbox rows are the chassis's (``OutboxWriter.row``), made in the
caller's own context so that they carry its trace.

The relay is woken after the statement only when a flag was raised: a flag must reach alerts at
once, while recorded results ride the relay's next poll (at most a second later) in batches.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import LargeBinary, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection as AsyncEngineConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from screening.adapters.db.repository import RESULT_COLUMNS, _participant, _result
from screening.adapters.db.tables import guardian_tasks, outbox, results
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

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
SeatKey = tuple[UUID, UUID]  # sitting id, student id

# The participants of a batch, each with its sitting's expiry and its campaign's state.
_SEATS = (
    "SELECT p.*, s.expires_at AS sitting_expires_at, c.status AS campaign_status,"
    " c.closes_at AS campaign_closes_at"
    " FROM unnest(%(sitting_ids)s::uuid[], %(student_ids)s::uuid[]) AS k (sitting_id, student_id)"
    " JOIN participants p ON p.sitting_id = k.sitting_id AND p.student_id = k.student_id"
    " JOIN sittings s ON s.sitting_id = p.sitting_id"
    " JOIN campaigns c ON c.campaign_id = p.campaign_id"
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


def _single_params(write: _Write) -> dict[str, Any]:
    params = result_values(write.result)
    for n, row in enumerate(write.events):
        params |= {f"e{n}_{name}": value for name, value in row.items()}
        params[f"e{n}_headers"] = Jsonb(row["headers"])
    if write.task is not None:
        params |= task_values(write.task)
    return params


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_EVENT_COLUMNS = ("event_id", "topic", "key", "payload", "headers")


def _json_type(column: Any) -> str:
    # Strings as text: a cast to varchar(n) would cut an overlong value silently, while the
    # insert refuses it (as the single statement does). Bytes travel as base64.
    if isinstance(column.type, String | LargeBinary):
        return "text"
    return str(column.type.compile(dialect=_DIALECT))


def _rows_of(name: str, alias: str, table: Any, columns: Sequence[str]) -> str:
    """``jsonb_to_recordset`` of the parameter ``name``: a JSON array of objects with these
    columns and ``n``, the batch's order."""
    types = ", ".join(f"{c} {_json_type(table.c[c])}" for c in columns)
    return f"jsonb_to_recordset(%({name})s::jsonb) AS {alias} ({types}, n integer)"


def _select_list(alias: str, table: Any, columns: Sequence[str]) -> str:
    return ", ".join(
        f"decode({alias}.{c}, 'base64')"
        if isinstance(table.c[c].type, LargeBinary)
        else f"{alias}.{c}"
        for c in columns
    )


def _batch_statement() -> str:
    """One statement for a batch of results, their events and tasks, each passed as one JSON
    parameter (psycopg encodes one string much faster than an array per column): column
    names, types and placeholders only, no input in the SQL."""
    result_columns = ", ".join(RESULT_COLUMNS)
    task_columns = ", ".join(_TASK_COLUMNS)
    event_rows = _rows_of("events", "e", outbox, _EVENT_COLUMNS).replace(
        "(event_id", "(submission_id uuid, event_id", 1
    )
    parts = [
        f"WITH i AS (SELECT * FROM {_rows_of('results', 'i', results, RESULT_COLUMNS)}),",  # noqa: S608
        " discarded AS (DELETE FROM drafts d USING i WHERE d.campaign_id = i.campaign_id",
        " AND d.student_id = i.student_id AND d.instrument_id = i.instrument_id),",
        f" stored AS (INSERT INTO results ({result_columns})",
        f" SELECT {_select_list('i', results, RESULT_COLUMNS)} FROM i ORDER BY i.n",  # noqa: S608
        " ON CONFLICT DO NOTHING RETURNING submission_id),",
        # The rows exist exactly for the results stored now, in the batch's order.
        f" announced AS (INSERT INTO outbox ({', '.join(_EVENT_COLUMNS)})",
        f" SELECT {_select_list('e', outbox, _EVENT_COLUMNS)}",
        f" FROM {event_rows}",
        " WHERE e.submission_id IN (SELECT submission_id FROM stored) ORDER BY e.n),",
        f" tasked AS (INSERT INTO guardian_tasks ({task_columns})",
        f" SELECT {task_columns} FROM {_rows_of('tasks', 't', guardian_tasks, _TASK_COLUMNS)}",  # noqa: S608
        " WHERE t.submission_id IN (SELECT submission_id FROM stored)",
        " ON CONFLICT (submission_id) DO NOTHING)",
        " SELECT submission_id FROM stored",
    ]
    return "".join(parts)


_RECORD_BATCH = _batch_statement()


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form here")


def _batch_params(writes: Sequence[_Write]) -> dict[str, str]:
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    for n, write in enumerate(writes):
        rows.append({**result_values(write.result), "n": n})
        for row in write.events:
            events.append({**row, "submission_id": write.result.submission_id, "n": len(events)})
        if write.task is not None:
            values = {name.removeprefix("t_"): v for name, v in task_values(write.task).items()}
            tasks.append({**values, "n": n})
    return {
        "results": json.dumps(rows, default=_json_value),
        "events": json.dumps(events, default=_json_value),
        "tasks": json.dumps(tasks, default=_json_value),
    }


@dataclass(frozen=True)
class _Write:
    """A scored submission ready to store: its result, its outbox rows (made in the caller's
    context, so they carry its trace) and the flag's guardian task."""

    result: Result
    events: tuple[dict[str, Any], ...]
    task: GuardianTask | None


class Batcher(Generic[T, R]):
    """Gathers what callers hand in and gives it to ``run`` at once; each caller gets its own
    item's outcome, a value or an exception, when the whole batch is done.

    A batch closes ``window`` seconds after its first item, or at ``most`` items, or, while a
    batch is running, when that one is done: under load the items that arrive during one batch
    form the next (group commit), and an idle service waits at most ``window``."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[list[R | Exception]]],
        window: float,
        most: int,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._run = run
        self._window = window
        self._most = most
        self._on_idle = on_idle
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        # What the batches held so far, for benchmarks and tests.
        self.batches = 0
        self.items = 0

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._most:
            self._flush()
        elif self._timer is None and not self._running:
            self._timer = loop.call_later(self._window, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending[: self._most], self._pending[self._most :]
        if batch:
            self.batches += 1
            self.items += len(batch)
            task = asyncio.get_running_loop().create_task(self._deliver(batch))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._pending and not self._running:
            self._flush()
        elif not self._pending and not self._running and self._on_idle is not None:
            self._on_idle()

    async def _deliver(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._run([item for item, _ in batch])
        except Exception as error:  # every caller of the batch hears of it
            outcomes = [error] * len(batch)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller gave up (a deadline): the batch went on
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class PgAnswers:
    """What one SubmitAnswers call needs (``screening.domain.ports.AnswerRepository``); its
    reads and writes go into the store's batches."""

    def __init__(self, store: PgAnswerStore) -> None:
        self._store = store
        # Whether an event that must go out at once (a flag) was written.
        self.urgent = False

    async def seat(self, sitting_id: UUID, student_id: UUID) -> SittingSeat | None:
        return await self._store.seats((sitting_id, student_id))

    async def result(self, submission_id: UUID) -> Result | None:
        # Only resends and refusals ask: not batched.
        async with self._store.connection() as connection:
            row = await _one(connection, _RESULT, {"submission_id": submission_id})
        return _result(row) if row is not None else None

    async def add_result(
        self,
        result: Result,
        recorded: ResultRecorded,
        flagged: ResultFlagged | None = None,
        task: GuardianTask | None = None,
    ) -> bool:
        events: list[DomainEvent] = [recorded]
        if flagged is not None and task is not None:
            events.append(flagged)
        write = _Write(
            result,
            tuple(self._store.writer.row(*event_of(e)) for e in events),
            None if flagged is None else task,
        )
        stored = await self._store.writes(write)
        self.urgent = stored and write.task is not None
        return stored


async def _one(connection: AsyncConnection[Any], query: str, params: dict[str, Any]) -> Any:
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchone()


async def _all(connection: AsyncConnection[Any], query: str, params: dict[str, Any]) -> list[Any]:
    async with connection.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(query, params)
        return await cursor.fetchall()


def _seat(row: Any) -> SittingSeat:
    return SittingSeat(
        participant=_participant(row),
        expires_at=min(row.sitting_expires_at, row.campaign_closes_at),
        campaign_running=row.campaign_status == CampaignStatus.OPEN.value,
    )


@asynccontextmanager
async def _checkout(engine: AsyncEngine) -> AsyncIterator[AsyncConnection[Any]]:
    async with engine.connect() as pooled:
        raw = await pooled.get_raw_connection()
        connection: AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
        if not connection.autocommit:
            # Outside autocommit the write would wait for a COMMIT nobody sends.
            raise RuntimeError("SubmitAnswers needs an engine in AUTOCOMMIT")
        yield connection


class _Lane:
    """The pooled connection of one batcher, kept from a batch to the next while they follow
    each other (a checkout through SQLAlchemy's async pool costs about as much CPU as a small
    batch's statement): given back ``idle_seconds`` after the batcher went idle, after
    ``recycle_seconds``, and at once when a statement on it failed or was interrupted. A second
    batch at the same time (a full one) checks out a connection of its own."""

    def __init__(
        self, engine: AsyncEngine, idle_seconds: float = 1.0, recycle_seconds: float = 600.0
    ) -> None:
        self._engine = engine
        self._idle_seconds = idle_seconds
        self._recycle_seconds = recycle_seconds
        self._pooled: AsyncEngineConnection | None = None
        self._driver: AsyncConnection[Any] | None = None
        self._since = 0.0
        self._busy = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._busy:
            async with _checkout(self._engine) as connection:
                yield connection
            return
        self._busy = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            if self._driver is None or time.monotonic() - self._since > self._recycle_seconds:
                await self.release()
                pooled = await self._engine.connect()
                raw = await pooled.get_raw_connection()
                self._pooled, self._since = pooled, time.monotonic()
                self._driver = raw.driver_connection
                if self._driver is None or not self._driver.autocommit:
                    await self.release()
                    raise RuntimeError("SubmitAnswers needs an engine in AUTOCOMMIT")
            try:
                yield self._driver
            except BaseException:
                await self.release()
                raise
        finally:
            self._busy = False

    def idle(self) -> None:
        """The batcher has nothing to do: give the connection back unless work comes soon."""
        if self._pooled is not None and self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self._idle_seconds, self._release_later)

    def _release_later(self) -> None:
        self._idle_timer = None
        if not self._busy:
            task = asyncio.get_running_loop().create_task(self.release())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def release(self) -> None:
        pooled, self._pooled, self._driver = self._pooled, None, None
        if pooled is not None:
            await pooled.close()


class PgAnswerStore:
    """``async with store() as answers``; the batches run on pooled connections in autocommit.
    ``window`` 0 still gathers what arrives in the same turn of the event loop."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: OutboxWriter,
        *,
        window: float = 0.005,
        most: int = 64,
    ) -> None:
        self._engine = engine
        self.writer = writer
        self._seat_lane = _Lane(engine)
        self._write_lane = _Lane(engine)
        self.seats: Batcher[SeatKey, SittingSeat | None] = Batcher(
            self._read_seats, window, most, self._seat_lane.idle
        )
        self.writes: Batcher[_Write, bool] = Batcher(
            self._write, window, most, self._write_lane.idle
        )

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[PgAnswers]:
        answers = PgAnswers(self)
        yield answers
        if answers.urgent:
            self.writer.committed()

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        """A pooled connection of its own (resends, refusals, one-by-one writes)."""
        return _checkout(self._engine)

    async def close(self) -> None:
        """Gives back the connections the batchers keep (before the engine is disposed)."""
        await self._seat_lane.release()
        await self._write_lane.release()

    async def _read_seats(self, keys: list[SeatKey]) -> list[SittingSeat | Exception | None]:
        wanted = list(dict.fromkeys(keys))
        # Array literals as text ({uuid,uuid}, cast to uuid[] in the query): psycopg's list
        # dumper inspects every element in Python, a measurable share of a small batch's cost.
        # UUIDs print as hex digits and dashes only, so nothing needs quoting.
        params = {
            "sitting_ids": "{" + ",".join(str(sitting) for sitting, _ in wanted) + "}",
            "student_ids": "{" + ",".join(str(student) for _, student in wanted) + "}",
        }
        async with self._seat_lane.connection() as connection:
            rows = await _all(connection, _SEATS, params)
        found = {(row.sitting_id, row.student_id): _seat(row) for row in rows}
        return [found.get(key) for key in keys]

    async def _write(self, writes: list[_Write]) -> list[bool | Exception]:
        # A submission id twice in one batch (a resend racing its first): written once, the
        # other copy answered as not stored now (its caller then finds it a duplicate).
        first: dict[UUID, int] = {}
        for n, write in enumerate(writes):
            first.setdefault(write.result.submission_id, n)
        unique = [writes[n] for n in first.values()]
        try:
            async with self._write_lane.connection() as connection:
                rows = await _all(connection, _RECORD_BATCH, _batch_params(unique))
            stored = {row.submission_id for row in rows}
            return [
                first[w.result.submission_id] == n and w.result.submission_id in stored
                for n, w in enumerate(writes)
            ]
        except psycopg.Error:
            # Not expected once each submission was checked; still, one bad row must not fail
            # the others: each goes alone, on a fresh connection, and gets its own outcome.
            logger.warning("a batch of %d submissions failed; writing them one by one", len(unique))
            return [await self._write_one(write) for write in writes]

    async def _write_one(self, write: _Write) -> bool | Exception:
        statement = _RECORD if write.task is None else _RECORD_FLAGGED
        try:
            async with self.connection() as connection:
                return await _one(connection, statement, _single_params(write)) is not None
        except psycopg.Error as error:
            return error
