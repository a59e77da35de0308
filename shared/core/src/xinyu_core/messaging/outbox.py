"""Transactional outbox: an event is stored with the state change it reports, then relayed.

A use case calls :meth:`OutboxWriter.add` inside its own transaction, so the event exists if and
only if the change committed. :class:`OutboxRelay` later claims unpublished rows, produces them,
and marks them published in the transaction that claimed them. A crash anywhere leaves the row
unpublished and it is sent again: delivery is at-least-once, and consumers drop the repeats by
event id (see :mod:`xinyu_core.messaging.inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from google.protobuf.message import Message
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Select,
    Table,
    Text,
    Uuid,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from xinyu_core.messaging import tracing
from xinyu_core.messaging._redact import error_fields
from xinyu_core.messaging.events import event_id_of, validate_event, validate_topic
from xinyu_core.messaging.producer import AsyncProducer, DeliveryReport, OutgoingRecord

logger = logging.getLogger(__name__)

CONTENT_TYPE_HEADER = "content-type"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
EVENT_ID_HEADER = "x-event-id"
PAYLOAD_TYPE_HEADER = "x-payload-type"


class SessionFactory(Protocol):
    """What messaging needs of ``async_sessionmaker``: one transaction per unit of work."""

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]: ...


def outbox_table(metadata: MetaData, *, name: str = "outbox", schema: str | None = None) -> Table:
    """The outbox, added to a service's own MetaData so its Alembic history creates it."""
    return Table(
        name,
        metadata,
        # BIGSERIAL: ids follow insertion order, which the relay publishes in.
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        # traceparent/tracestate of the request that wrote the event, plus content headers.
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        # The relay only ever looks for unpublished rows; keep that lookup small as rows pile up.
        Index(f"ix_{name}_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        schema=schema,
    )


class OutboxWriter:
    """Stores events in the caller's transaction; ``on_commit`` (e.g. ``relay.wake``) runs after
    that transaction commits, so a relay in the same process sends at once instead of on its
    next poll. A rolled-back transaction takes its events with it and wakes nobody."""

    def __init__(self, table: Table, *, on_commit: Callable[[], None] | None = None) -> None:
        self._table = table
        self._on_commit = on_commit
        self._listening_key = f"xinyu.outbox.{table.fullname}.on_commit"

    def row(self, topic: str, message: Message) -> dict[str, Any]:
        """The checked outbox row of ``message`` for ``topic`` (its ``meta`` must be complete,
        see ``events.stamp``), with the current trace in its headers. :meth:`add` stores it;
        a hot path that writes through the driver's own connection inserts it in its
        transaction and calls :meth:`committed` after the commit."""
        validate_topic(topic)
        meta = validate_event(message)
        event_id = event_id_of(meta)
        return {
            "event_id": event_id,
            "topic": topic,
            "key": meta.subject,
            "payload": message.SerializeToString(),
            "headers": {
                **tracing.capture_trace_headers(),
                CONTENT_TYPE_HEADER: PROTOBUF_CONTENT_TYPE,
                EVENT_ID_HEADER: str(event_id),
                PAYLOAD_TYPE_HEADER: meta.payload_type,
            },
        }

    def committed(self) -> None:
        """Rows written with :meth:`row` have committed: wake the relay."""
        if self._on_commit is not None:
            self._on_commit()

    async def add(self, session: AsyncSession, topic: str, message: Message) -> uuid.UUID:
        """Store ``message`` for ``topic``; its ``meta`` must be complete (see ``events.stamp``)."""
        values = self.row(topic, message)
        if not session.in_transaction():
            # Outside a transaction the event could commit without the state change it reports.
            raise RuntimeError("OutboxWriter.add must run inside the caller's transaction")
        await session.execute(insert(self._table).values(**values))
        self._notify_after_commit(session)
        return uuid.UUID(str(values["event_id"]))

    def _notify_after_commit(self, session: AsyncSession) -> None:
        if self._on_commit is None or session.info.get(self._listening_key):
            return
        session.info[self._listening_key] = True
        on_commit = self._on_commit
        key = self._listening_key

        def after_commit(sync_session: Any) -> None:
            sync_session.info.pop(key, None)
            on_commit()

        sa_event.listen(session.sync_session, "after_commit", after_commit, once=True)


@dataclass(frozen=True)
class PendingEvent:
    """An outbox row waiting to be published."""

    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    payload: bytes
    headers: dict[str, str]


class OutboxStore(Protocol):
    async def claim(self, session: AsyncSession, limit: int) -> list[PendingEvent]: ...

    async def mark_published(self, session: AsyncSession, ids: Sequence[int]) -> None: ...


class PostgresOutbox:
    """The relay's queries on a table made by :func:`outbox_table`."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._lock_name = f"xinyu.outbox:{table.fullname}"

    def claim_statement(self, limit: int) -> Select[Any]:
        t = self._table
        return (
            select(t.c.id, t.c.event_id, t.c.topic, t.c.key, t.c.payload, t.c.headers)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    async def claim(self, session: AsyncSession, limit: int) -> list[PendingEvent]:
        # One relay at a time per outbox: SKIP LOCKED alone would let two replicas publish
        # interleaved batches and reorder one student's events. The transaction-scoped advisory
        # lock is released by the same commit/rollback that ends the claim.
        lock_key = func.hashtext(literal(self._lock_name))
        if not await session.scalar(select(func.pg_try_advisory_xact_lock(lock_key))):
            return []
        rows = (await session.execute(self.claim_statement(limit))).all()
        return [
            PendingEvent(
                id=row.id,
                event_id=row.event_id,
                topic=row.topic,
                key=row.key,
                payload=row.payload,
                headers=dict(row.headers or {}),
            )
            for row in rows
        ]

    async def mark_published(self, session: AsyncSession, ids: Sequence[int]) -> None:
        if ids:
            t = self._table
            await session.execute(
                update(t).where(t.c.id.in_(list(ids))).values(published_at=func.now())
            )

    async def purge_published(
        self, session: AsyncSession, older_than: timedelta, limit: int | None = None
    ) -> int:
        """Delete rows published more than ``older_than`` ago, the oldest first, at most
        ``limit`` of them (:class:`~xinyu_core.messaging.housekeeping.MessagingHousekeeping`
        runs it in short transactions). Unpublished rows are never touched."""
        t = self._table
        cutoff = func.now() - literal(older_than)
        old = t.c.published_at.is_not(None), t.c.published_at < cutoff
        if limit is None:
            statement = t.delete().where(*old)
        else:
            # Oldest ids first: published rows are in id order, so the scan stops early.
            chosen = (
                select(t.c.id)
                .where(*old)
                .order_by(t.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            statement = t.delete().where(t.c.id.in_(chosen.scalar_subquery()))
        result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    published: int

    @property
    def failed(self) -> int:
        return self.claimed - self.published


class OutboxRelay:
    """Publishes committed outbox rows in id order; run one per service process.

    Each batch is one transaction: claim rows (``FOR UPDATE SKIP LOCKED``), produce them, wait
    for the broker's acknowledgements, mark the acknowledged rows published, commit. A row whose
    delivery failed stays unpublished and is retried on the next pass.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        store: OutboxStore,
        producer: AsyncProducer,
        *,
        batch_size: int = 100,
        poll_interval_seconds: float = 1.0,
        initial_backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self._sessions = sessions
        self._store = store
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        self._initial_backoff = initial_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Publish now rather than at the next poll; safe from any thread."""
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._wakeup.set)
        else:
            self._wakeup.set()

    def stop(self) -> None:
        """Ask :meth:`run` to return once the batch in flight is committed."""
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._request_stop)
        else:
            self._request_stop()

    async def run(self) -> None:
        """Publish until :meth:`stop`; database or broker failures are retried with backoff."""
        self._loop = asyncio.get_running_loop()
        backoff = self._initial_backoff
        logger.info("outbox relay started")
        while not self._stopping.is_set():
            # Cleared before looking, so a wake() that arrives during the pass is not lost.
            self._wakeup.clear()
            try:
                result = await self._publish_batch()
            except Exception as exc:  # the database or the broker is unavailable: try again
                logger.warning("outbox relay pass failed", extra=error_fields(exc))
                await self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if result.failed:
                await self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._initial_backoff
            if result.claimed < self._batch_size:
                await self._wait_for_work()
        logger.info("outbox relay stopped")

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch_size`` rows; returns how many were acknowledged."""
        return (await self._publish_batch()).published

    async def _publish_batch(self) -> BatchResult:
        async with self._sessions.begin() as session:
            batch = await self._store.claim(session, self._batch_size)
            if not batch:
                return BatchResult(claimed=0, published=0)
            reports = await self._send(batch)
            delivered = [
                event.id for event, report in zip(batch, reports, strict=True) if report.delivered
            ]
            await self._store.mark_published(session, delivered)
        self._log_failures(batch, reports)
        return BatchResult(claimed=len(batch), published=len(delivered))

    async def _send(self, batch: Sequence[PendingEvent]) -> list[DeliveryReport]:
        spans = [self._start_span(event) for event in batch]
        try:
            reports = await self._producer.send_all(
                [_record(event, span) for event, span in zip(batch, spans, strict=True)]
            )
        except BaseException as exc:
            for span in spans:
                _fail_span(span, type(exc).__name__)
                span.end()
            raise
        for span, report in zip(spans, reports, strict=True):
            if report.delivered:
                span.set_attribute(tracing.MESSAGING_PARTITION, str(report.partition))
            else:
                _fail_span(span, report.error or "unknown")
            span.end()
        return reports

    def _start_span(self, event: PendingEvent) -> Span:
        # The span continues the trace of the request that stored the event, so a request, its
        # event and every consumer's handling of it read as one trace.
        return self._tracer.start_span(
            f"send {event.topic}",
            context=tracing.context_from_headers(event.headers),
            kind=SpanKind.PRODUCER,
            attributes={
                tracing.MESSAGING_SYSTEM: "kafka",
                tracing.MESSAGING_DESTINATION: event.topic,
                tracing.MESSAGING_OPERATION_TYPE: "send",
                tracing.MESSAGING_OPERATION_NAME: "send",
                tracing.MESSAGING_MESSAGE_ID: str(event.event_id),
            },
        )

    def _log_failures(self, batch: Sequence[PendingEvent], reports: list[DeliveryReport]) -> None:
        for event, report in zip(batch, reports, strict=True):
            if not report.delivered:
                logger.warning(
                    "outbox event not acknowledged; will retry",
                    extra={
                        "event_id": str(event.event_id),
                        "topic": event.topic,
                        "kafka_error": report.error,
                    },
                )

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def _request_stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()


def _record(event: PendingEvent, span: Span) -> OutgoingRecord:
    """The Kafka record for a row: stored headers, with the trace context of the send span."""
    headers = {
        name: value for name, value in event.headers.items() if name not in tracing.TRACE_HEADERS
    }
    headers.update(tracing.capture_trace_headers(trace.set_span_in_context(span)))
    return OutgoingRecord(
        topic=event.topic,
        key=event.key.encode(),
        value=event.payload,
        headers=[(name, value.encode()) for name, value in headers.items()],
    )


def _fail_span(span: Span, error: str) -> None:
    span.set_attribute(tracing.ERROR_TYPE, error)
    span.set_status(Status(StatusCode.ERROR, error))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


__all__ = [
    "BatchResult",
    "OutboxRelay",
    "OutboxStore",
    "OutboxWriter",
    "PendingEvent",
    "PostgresOutbox",
    "SessionFactory",
    "outbox_table",
]
