"""Idempotent, traced Kafka consumption with a dead-letter path.

For each record: decode it, open a CONSUMER span, and in ONE database transaction record the
event in the inbox and run the handler; commit the database, and only then the offset (sent
without waiting for the broker's answer, see :meth:`EventConsumer._commit`). Outcomes:

* handled, or a duplicate (already in the inbox): commit the offset, move on;
* poison (undecodable, a broken envelope, or the handler raised :class:`PoisonMessage` or a
  validation error): produce the original bytes to ``<topic>.dlq`` with the reason, call the
  dead-letter hook (services raise a human review task), then commit the offset;
* transient (database or network down): seek back to the record and retry after a backoff,
  without committing — for as long as it takes;
* any other exception (a bug): retried like a transient error a few times, then dead-lettered,
  so one bad record cannot stall a partition forever and is still never dropped silently.

Batches (``max_batch`` > 1): when records are waiting, the consumer takes up to ``max_batch``
of them at once (it never waits to fill a batch, so a lone record is not delayed), claims their
inbox rows in one statement and runs their handlers in ONE transaction, then commits each
partition's offset once. A record that does not decode is dead-lettered on its own first. If
the handlers fail, the transaction rolls back as a whole and the batch is handled again one
record at a time with the outcomes above, so a rejected record costs its batch speed, never
correctness. A backlog then costs one transaction
and one offset commit per batch instead of per record.

The librdkafka consumer is not thread-safe, so all calls on it go through one dedicated worker
thread; the event loop never blocks on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Protocol, TypeVar

import pydantic
import sqlalchemy.exc
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from google.protobuf.message import DecodeError, Message
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider
from sqlalchemy.ext.asyncio import AsyncSession

from xinyu_core.messaging import tracing
from xinyu_core.messaging._connection import connection_config
from xinyu_core.messaging._redact import error_fields, error_type
from xinyu_core.messaging.events import (
    EnvelopeError,
    dlq_topic,
    event_id_of,
    has_meta_field,
    meta_of,
    payload_type_of,
    validate_event,
    validate_topic,
)
from xinyu_core.messaging.inbox import BatchInbox, Inbox
from xinyu_core.messaging.outbox import SessionFactory
from xinyu_core.messaging.producer import AsyncProducer, Headers, OutgoingRecord
from xinyu_core.messaging.tracing import RecordHeaders, header_items
from xinyu_core.settings import KafkaSettings

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
Handler = Callable[[AsyncSession, M], Awaitable[None]]
# Handles several events of one topic in the caller's transaction (in offset order per partition).
BatchHandler = Callable[[AsyncSession, Sequence[M]], Awaitable[None]]

DLQ_REASON = "x-dlq-reason"
DLQ_ORIGINAL_TOPIC = "x-dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "x-dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "x-dlq-original-offset"
DLQ_CONSUMER_GROUP = "x-dlq-consumer-group"

_REASON_CODE = re.compile(r"[^a-z0-9_.:-]+")


class PoisonMessage(Exception):
    """Raised by a handler for a record that will never succeed (invalid content, unknown ids).

    ``reason`` is a short machine-readable code (``unknown-school-code``), copied into the DLQ
    header and logs, so it must never contain personal data; it is normalised to
    ``[a-z0-9_.:-]`` and 100 characters to make accidental leaks of free text less likely.
    """

    def __init__(self, reason: str) -> None:
        self.reason = _REASON_CODE.sub("-", reason.lower()).strip("-")[:100] or "unspecified"
        super().__init__(self.reason)


class TransientError(Exception):
    """Raised by a handler when a dependency is unavailable; the record is retried, not DLQ'd."""


@dataclass(frozen=True)
class DeadLetter:
    """What the dead-letter hook is told. Carries ids and bytes, never decoded personal data."""

    topic: str
    partition: int
    offset: int
    consumer_group: str
    reason: str
    dlq_topic: str
    event_id: uuid.UUID | None
    subject: str | None
    key: bytes | None
    value: bytes


DeadLetterHook = Callable[[DeadLetter], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    # Unexpected exceptions (bugs) get this many attempts before the record is dead-lettered.
    max_attempts_for_unexpected_errors: int = 5

    def backoff(self, attempt: int) -> float:
        return float(
            min(self.initial_backoff_seconds * 2 ** max(attempt - 1, 0), self.max_backoff_seconds)
        )


def consumer_config(
    kafka: KafkaSettings,
    client_id: str,
    group_id: str,
    *,
    auto_offset_reset: str = "earliest",
) -> dict[str, Any]:
    """Every consumer setting, explicit. Offsets are committed by hand, after the effect."""
    if not group_id:
        raise ValueError("group_id is required (the service's one name)")
    return {
        **connection_config(kafka, client_id),
        "group.id": group_id,
        # Offsets are committed only after the database transaction; never in the background.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # A new group (a new service, a new read model) starts at the oldest retained event.
        "auto.offset.reset": auto_offset_reset,
        "isolation.level": "read_committed",
        # Incremental rebalancing: adding a replica does not stop every partition.
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 45_000,
        "heartbeat.interval.ms": 3_000,
        # Well above the longest retry backoff, since the loop does not poll while it waits.
        "max.poll.interval.ms": 300_000,
        "enable.partition.eof": False,
        # Topics are declared in infra/kafka/topics.yaml; a typo must not create a new one.
        "allow.auto.create.topics": False,
        "fetch.wait.max.ms": 500,
        "max.partition.fetch.bytes": 1_048_576,
    }


def build_consumer(
    kafka: KafkaSettings,
    client_id: str,
    group_id: str,
    *,
    auto_offset_reset: str = "earliest",
) -> Consumer:
    config = consumer_config(kafka, client_id, group_id, auto_offset_reset=auto_offset_reset)
    config["error_cb"] = _log_client_error
    config["on_commit"] = _log_failed_commit
    return Consumer(config)


def _log_failed_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
    """The broker's answer to an offset commit (served on the consumer's thread by poll)."""
    if error is not None:
        # Typically a rebalance took the partition or the coordinator moved: the effect is
        # stored and the inbox drops the redelivery, so a lost commit costs a repeat.
        logger.warning(
            "offset commit failed",
            extra={"kafka_error": error.name(), "partitions": len(partitions)},
        )


def _log_client_error(error: KafkaError) -> None:
    level = logging.CRITICAL if error.fatal() else logging.WARNING
    logger.log(level, "kafka consumer error", extra={"kafka_error": error.name()})


class KafkaRecord(Protocol):
    """The part of ``confluent_kafka.Message`` the consumer reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> RecordHeaders | None: ...
    def error(self) -> KafkaError | None: ...


class KafkaConsumerLike(Protocol):
    """The part of ``confluent_kafka.Consumer`` the platform uses (fakes implement it too)."""

    def subscribe(self, topics: list[str]) -> None: ...
    def poll(self, timeout: float = ...) -> Any: ...
    def consume(self, num_messages: int = ..., timeout: float = ...) -> list[Any]: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def commit(self, *, offsets: list[TopicPartition], asynchronous: Literal[True]) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class _Route:
    topic: str
    payload_type: str
    decode: Callable[[bytes], Message]
    handler: Callable[[AsyncSession, Any], Awaitable[None]] | None
    batch_handler: Callable[[AsyncSession, Sequence[Any]], Awaitable[None]] | None
    external: bool

    async def apply(self, session: AsyncSession, messages: Sequence[Message]) -> None:
        if self.batch_handler is not None:
            await self.batch_handler(session, messages)
            return
        assert self.handler is not None
        for message in messages:
            await self.handler(session, message)


class _Outcome(Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"
    RETRY = "retry"


@dataclass(frozen=True)
class _Decoded:
    route: _Route
    record: KafkaRecord
    message: Message
    event_id: uuid.UUID


@dataclass(frozen=True)
class _Position:
    topic: str
    partition: int
    offset: int


# Errors that say "not now" rather than "never": the database, the network or a dependency.
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    OSError,
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    KafkaException,
)
# Errors that say the record itself is wrong: retrying cannot help.
_POISON_ERRORS: tuple[type[BaseException], ...] = (
    PoisonMessage,
    EnvelopeError,
    DecodeError,
    pydantic.ValidationError,
)


class EventConsumer:
    """Consumes registered topics for one consumer group; see the module docstring."""

    def __init__(
        self,
        *,
        consumer: KafkaConsumerLike,
        consumer_group: str,
        sessions: SessionFactory,
        inbox: Inbox,
        dlq_producer: AsyncProducer,
        on_dead_letter: DeadLetterHook | None = None,
        retry: RetryPolicy | None = None,
        poison_errors: tuple[type[BaseException], ...] = (),
        transient_errors: tuple[type[BaseException], ...] = (),
        poll_timeout_seconds: float = 1.0,
        max_batch: int = 1,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_batch > 1 and not hasattr(inbox, "claim_many"):
            raise TypeError("batches need an inbox with claim_many (BatchInbox)")
        self._max_batch = max_batch
        self._consumer = consumer
        self._group = consumer_group
        self._sessions = sessions
        self._inbox = inbox
        self._dlq = dlq_producer
        self._on_dead_letter = on_dead_letter
        self._retry = retry or RetryPolicy()
        self._poison = _POISON_ERRORS + poison_errors
        self._transient = _TRANSIENT_ERRORS + transient_errors
        self._poll_timeout = poll_timeout_seconds
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._routes: dict[str, _Route] = {}
        self._attempts: dict[_Position, int] = {}
        self._unexpected_failures: dict[_Position, int] = {}
        # Records already in the DLQ whose hook or commit still has to succeed: not sent twice.
        self._dead_lettered: set[_Position] = set()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None

    def register(
        self,
        topic: str,
        message_type: type[M],
        handler: Handler[M],
        *,
        external: bool = False,
        decode: Callable[[bytes], M] | None = None,
    ) -> None:
        """Route ``topic`` to ``handler``.

        ``external`` marks a partner topic: its trace headers are not trusted, so handling starts
        a new trace and only links to theirs. ``decode`` replaces protobuf parsing (e.g. a
        partner's JSON validated against its schema and normalised to ``message_type``).
        """
        self._add_route(topic, message_type, handler, None, external=external, decode=decode)

    def register_batch(
        self,
        topic: str,
        message_type: type[M],
        handler: BatchHandler[M],
        *,
        external: bool = False,
        decode: Callable[[bytes], M] | None = None,
    ) -> None:
        """Like :meth:`register`, for a handler that takes several events of ``topic`` at once
        (in one transaction; a single record is a batch of one). It must be all or nothing: if
        it raises, none of the batch's effects may remain outside the transaction."""
        self._add_route(topic, message_type, None, handler, external=external, decode=decode)

    def _add_route(
        self,
        topic: str,
        message_type: type[M],
        handler: Handler[M] | None,
        batch_handler: BatchHandler[M] | None,
        *,
        external: bool,
        decode: Callable[[bytes], M] | None,
    ) -> None:
        validate_topic(topic)
        if self._executor is not None:
            raise RuntimeError("register handlers before run()")
        if topic in self._routes:
            raise ValueError(f"a handler is already registered for {topic}")
        if not has_meta_field(message_type):
            raise TypeError("event messages must have a field 'meta' of type EventMeta")
        self._routes[topic] = _Route(
            topic=topic,
            payload_type=payload_type_of(message_type),
            decode=decode or message_type.FromString,
            handler=handler,
            batch_handler=batch_handler,
            external=external,
        )

    @property
    def topics(self) -> list[str]:
        return list(self._routes)

    def stop(self) -> None:
        """Ask :meth:`run` to return after the record in hand; safe from any thread."""
        loop = self._loop
        running = _running_loop()
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(self._stopping.set)
        else:
            self._stopping.set()

    async def run(self) -> None:
        """Subscribe and process records until :meth:`stop`; closes the consumer on the way out."""
        if not self._routes:
            raise RuntimeError("no handlers registered")
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        try:
            await self._call(self._consumer.subscribe, self.topics)
            logger.info(
                "consumer started",
                extra={"consumer_group": self._group, "topics": ",".join(self.topics)},
            )
            while not self._stopping.is_set():
                records = await self._call(self._fetch)
                if len(records) == 1:
                    if await self._receive(records[0]) is _Outcome.RETRY:
                        await self._rewind(records, set(), failed=records[0])
                elif records:
                    await self._receive_batch(records)
        finally:
            await self._close()

    async def _close(self) -> None:
        executor = self._executor
        try:
            # Leaving the group promptly hands this consumer's partitions to the others now,
            # not after session.timeout.ms.
            await self._call(self._consumer.close)
        except Exception as exc:
            logger.warning("consumer close failed", extra=error_fields(exc))
        finally:
            if executor is not None:
                executor.shutdown(wait=False)
            logger.info("consumer stopped", extra={"consumer_group": self._group})

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def _fetch(self) -> list[KafkaRecord]:
        """On the consumer's thread: wait for one record, then take whatever else is already
        fetched (up to ``max_batch``) without waiting for more."""
        first = self._consumer.poll(self._poll_timeout)
        if first is None:
            return []
        if self._max_batch == 1:
            return [first]
        return [first, *self._consumer.consume(self._max_batch - 1, 0)]

    async def _receive(self, record: KafkaRecord, *, commit: bool = True) -> _Outcome | None:
        """One record on its own. On RETRY the caller rewinds (see :meth:`_rewind`)."""
        error = record.error()
        if error is not None:
            self._on_poll_error(error)
            return None
        position = _position(record)
        route = self._routes.get(position.topic)
        if route is None:  # pragma: no cover - we only subscribe to routed topics
            logger.error("record from an unrouted topic", extra={"topic": position.topic})
            return None
        outcome = await self._process(route, record, position)
        if outcome is _Outcome.RETRY or not commit:
            return outcome  # a batch forgets its records' retry state once committed
        self._forget(position)
        await self._commit([position])
        return outcome

    async def _receive_batch(self, records: Sequence[KafkaRecord]) -> None:
        good: list[KafkaRecord] = []
        for record in records:
            error = record.error()
            if error is not None:
                self._on_poll_error(error)
            else:
                good.append(record)
        done: set[_Position] = set()
        decoded: list[_Decoded] = []
        for record in good:
            route = self._routes.get(record.topic() or "")
            message = _try_decode(route, record) if route is not None else None
            if route is None or message is None:
                # Dead-lettered on its own path (with its reason); the rest stays a batch.
                if await self._receive(record, commit=False) is _Outcome.RETRY:
                    await self._rewind(good, done, failed=record)
                    return
                done.add(_position(record))
            else:
                decoded.append(_Decoded(route, record, message, event_id_of(meta_of(message))))
        if decoded and await self._process_batch(decoded):
            done.update(_position(item.record) for item in decoded)
        else:
            # One at a time, in order, with the usual outcomes.
            for item in decoded:
                if await self._receive(item.record, commit=False) is _Outcome.RETRY:
                    await self._commit_handled(good, done)
                    await self._rewind(good, done, failed=item.record)
                    return
                done.add(_position(item.record))
        await self._commit_handled(good, done)

    async def _process_batch(self, decoded: Sequence[_Decoded]) -> bool:
        """The fast path: the whole batch applies in one transaction. False (nothing stored)
        sends the batch down the one-at-a-time path."""
        links: list[Link] = []
        for item in decoded:
            headers = tracing.decode_headers(item.record.headers())
            links.extend(_links(headers, external=item.route.external))
        topics = sorted({item.route.topic for item in decoded})
        with self._tracer.start_as_current_span(
            f"process {topics[0]}" if len(topics) == 1 else "process batch",
            context=Context(),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                **self._batch_attributes(topics),
                MESSAGING_BATCH_COUNT: len(decoded),
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                duplicates = await self._apply_batch(decoded)
            except Exception as exc:
                _fail_span(span, exc)
                logger.warning(
                    "batch failed; handling its records one at a time",
                    extra={
                        "consumer_group": self._group,
                        "records": len(decoded),
                        **error_fields(exc),
                    },
                )
                return False
            span.set_attribute("xinyu.messaging.duplicates", duplicates)
        return True

    async def _apply_batch(self, decoded: Sequence[_Decoded]) -> int:
        """Inbox rows and effects of the whole batch in one transaction. Returns how many
        records were duplicates (already applied, or repeated within the batch)."""
        inbox: BatchInbox = self._inbox  # type: ignore[assignment]  # checked in __init__
        wanted: dict[uuid.UUID, str] = {}
        for item in decoded:
            wanted.setdefault(item.event_id, item.route.topic)
        async with self._sessions.begin() as session:
            new = await inbox.claim_many(session, self._group, list(wanted.items()))
            by_route: dict[str, tuple[_Route, list[Message]]] = {}
            for item in decoded:
                if item.event_id in new:
                    new.discard(item.event_id)  # a repeat inside the batch is a duplicate too
                    by_route.setdefault(item.route.topic, (item.route, []))[1].append(item.message)
            for route, messages in by_route.values():
                await route.apply(session, messages)
        return len(decoded) - sum(len(messages) for _, messages in by_route.values())

    def _on_poll_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        if error.code() != KafkaError._PARTITION_EOF:
            logger.warning("kafka poll error", extra={"kafka_error": error.name()})

    async def _process(self, route: _Route, record: KafkaRecord, position: _Position) -> _Outcome:
        headers = tracing.decode_headers(record.headers())
        context, links = _trace_parent(headers, external=route.external)
        with self._tracer.start_as_current_span(
            f"process {route.topic}",
            context=context,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=self._span_attributes(position),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            outcome = await self._process_in_span(route, record, position, span)
            span.set_attribute("xinyu.messaging.outcome", outcome.value)
            return outcome

    async def _process_in_span(
        self, route: _Route, record: KafkaRecord, position: _Position, span: Span
    ) -> _Outcome:
        try:
            message = _decode(route, record)
        except Exception as exc:  # whatever a decoder raises, the bytes will never decode
            _fail_span(span, exc)
            return await self._dead_letter(record, position, _reason("undecodable", exc), None)
        event_id = event_id_of(meta_of(message))
        span.set_attribute(tracing.MESSAGING_MESSAGE_ID, str(event_id))
        try:
            applied = await self._apply(route, message, event_id)
        except self._poison as exc:
            _fail_span(span, exc)
            return await self._dead_letter(record, position, _reason("rejected", exc), message)
        except Exception as exc:
            _fail_span(span, exc)
            return await self._on_failure(record, position, exc, message)
        if not applied:
            logger.info("duplicate event skipped", extra=self._log_fields(position, event_id))
            return _Outcome.DUPLICATE
        logger.debug("event handled", extra=self._log_fields(position, event_id))
        return _Outcome.HANDLED

    async def _apply(self, route: _Route, message: Message, event_id: uuid.UUID) -> bool:
        """Inbox row and effect in one transaction: both are stored, or neither is."""
        async with self._sessions.begin() as session:
            if not await self._inbox.claim(session, self._group, event_id, route.topic):
                return False
            await route.apply(session, [message])
        return True

    async def _on_failure(
        self, record: KafkaRecord, position: _Position, exc: Exception, message: Message
    ) -> _Outcome:
        fields = {**self._log_fields(position, None), **error_fields(exc)}
        if self._is_transient(exc):
            logger.warning("transient failure; will retry", extra=fields)
            return _Outcome.RETRY
        failures = self._unexpected_failures.get(position, 0) + 1
        self._unexpected_failures[position] = failures
        if failures < self._retry.max_attempts_for_unexpected_errors:
            logger.error("handler failed; will retry", extra={**fields, "attempt": failures})
            return _Outcome.RETRY
        logger.error("handler kept failing; dead-lettering", extra=fields)
        return await self._dead_letter(record, position, _reason("handler-failed", exc), message)

    async def _dead_letter(
        self, record: KafkaRecord, position: _Position, reason: str, message: Message | None
    ) -> _Outcome:
        """DLQ the original bytes, then tell the hook; any failure retries, nothing is dropped."""
        letter = self._letter(record, position, reason, message)
        if position not in self._dead_lettered:
            report = await self._dlq.send(self._dlq_record(record, letter))
            if not report.delivered:
                logger.error(
                    "dead-letter produce failed; will retry",
                    extra={**self._log_fields(position, None), "kafka_error": report.error},
                )
                return _Outcome.RETRY
            self._dead_lettered.add(position)
            logger.warning(
                "event dead-lettered",
                extra={**self._log_fields(position, letter.event_id), "reason": reason},
            )
        if self._on_dead_letter is not None:
            try:
                await self._on_dead_letter(letter)
            except Exception as exc:
                logger.error(
                    "dead-letter hook failed; will retry",
                    extra={**self._log_fields(position, letter.event_id), **error_fields(exc)},
                )
                return _Outcome.RETRY
        return _Outcome.DEAD_LETTERED

    def _is_transient(self, exc: Exception) -> bool:
        if isinstance(exc, self._transient):
            return True
        # SQLAlchemy flags errors that broke the connection, whatever their DBAPI class.
        return isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated

    def _letter(
        self, record: KafkaRecord, position: _Position, reason: str, message: Message | None
    ) -> DeadLetter:
        event_id: uuid.UUID | None = None
        subject: str | None = None
        if message is not None:
            meta = meta_of(message)
            event_id = event_id_of(meta)
            subject = meta.subject
        return DeadLetter(
            topic=position.topic,
            partition=position.partition,
            offset=position.offset,
            consumer_group=self._group,
            reason=reason,
            dlq_topic=dlq_topic(position.topic),
            event_id=event_id,
            subject=subject,
            key=record.key(),
            value=record.value() or b"",
        )

    def _dlq_record(self, record: KafkaRecord, letter: DeadLetter) -> OutgoingRecord:
        headers: Headers = header_items(record.headers())
        headers += [
            (DLQ_REASON, letter.reason.encode()),
            (DLQ_ORIGINAL_TOPIC, letter.topic.encode()),
            (DLQ_ORIGINAL_PARTITION, str(letter.partition).encode()),
            (DLQ_ORIGINAL_OFFSET, str(letter.offset).encode()),
            (DLQ_CONSUMER_GROUP, self._group.encode()),
        ]
        return OutgoingRecord(
            topic=letter.dlq_topic, key=letter.key, value=letter.value, headers=headers
        )

    async def _rewind(
        self, records: Sequence[KafkaRecord], done: set[_Position], *, failed: KafkaRecord
    ) -> None:
        """After a RETRY of ``failed``: rewind every partition of ``records`` to its first
        record not handled, so the next polls return them again, then back off."""
        position = _position(failed)
        attempt = self._attempts.get(position, 0) + 1
        self._attempts[position] = attempt
        rewind: dict[tuple[str, int], _Position] = {}
        for record in records:
            at = _position(record)
            if at not in done:
                rewind.setdefault((at.topic, at.partition), at)
        # Polling on (rather than sleeping in a retry loop) keeps the consumer in its group
        # however long the database is down.
        for target in rewind.values():
            try:
                await self._call(
                    self._consumer.seek,
                    TopicPartition(target.topic, target.partition, target.offset),
                )
            except KafkaException as exc:
                # The partition was revoked meanwhile; its new owner will process the record.
                logger.warning(
                    "seek failed", extra={**self._log_fields(target, None), **error_fields(exc)}
                )
                self._forget(target)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=self._retry.backoff(attempt))

    async def _commit_handled(self, records: Sequence[KafkaRecord], done: set[_Position]) -> None:
        """Commits, per partition, the records handled without a gap from the batch's first:
        a record after one still to be retried is handled again later (the inbox drops it)."""
        committed: list[_Position] = []
        blocked: set[tuple[str, int]] = set()
        for record in sorted(records, key=lambda r: (r.topic() or "", r.partition(), r.offset())):
            at = _position(record)
            key = (at.topic, at.partition)
            if key in blocked or at not in done:
                blocked.add(key)
                continue
            committed.append(at)
        for at in committed:
            self._forget(at)
        await self._commit(committed)

    async def _commit(self, positions: Sequence[_Position]) -> None:
        """Commits the next offset of every partition in ``positions``, without waiting for the
        broker's answer: a synchronous commit can block for good when the group coordinator
        goes away mid-request (a broker restart), stalling the consumer. Correctness does not
        need the answer: the effect is already stored, and a commit that is lost only makes the
        inbox drop a redelivery. A failure is logged from ``on_commit``."""
        last: dict[tuple[str, int], _Position] = {}
        for position in positions:
            key = (position.topic, position.partition)
            if key not in last or last[key].offset < position.offset:
                last[key] = position
        if not last:
            return
        try:
            await self._call(
                self._consumer.commit,
                offsets=[TopicPartition(p.topic, p.partition, p.offset + 1) for p in last.values()],
                asynchronous=True,
            )
        except KafkaException as exc:
            # Typically a rebalance took the partition. The effect is stored and the inbox will
            # drop the redelivery, so losing this commit costs a repeat, not correctness.
            first = next(iter(last.values()))
            logger.warning(
                "offset commit failed",
                extra={**self._log_fields(first, None), **error_fields(exc)},
            )

    def _forget(self, position: _Position) -> None:
        self._attempts.pop(position, None)
        self._unexpected_failures.pop(position, None)
        self._dead_lettered.discard(position)

    def _batch_attributes(self, topics: Sequence[str]) -> dict[str, str | int]:
        attributes: dict[str, str | int] = {
            tracing.MESSAGING_SYSTEM: "kafka",
            tracing.MESSAGING_OPERATION_TYPE: "process",
            tracing.MESSAGING_OPERATION_NAME: "process",
            tracing.MESSAGING_CONSUMER_GROUP: self._group,
        }
        if len(topics) == 1:
            attributes[tracing.MESSAGING_DESTINATION] = topics[0]
        return attributes

    def _span_attributes(self, position: _Position) -> dict[str, str | int]:
        return {
            tracing.MESSAGING_SYSTEM: "kafka",
            tracing.MESSAGING_DESTINATION: position.topic,
            tracing.MESSAGING_OPERATION_TYPE: "process",
            tracing.MESSAGING_OPERATION_NAME: "process",
            tracing.MESSAGING_CONSUMER_GROUP: self._group,
            tracing.MESSAGING_PARTITION: str(position.partition),
            tracing.MESSAGING_OFFSET: position.offset,
        }

    def _log_fields(self, position: _Position, event_id: uuid.UUID | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
            "consumer_group": self._group,
        }
        if event_id is not None:
            fields["event_id"] = str(event_id)
        return fields


# OpenTelemetry's messaging convention for the number of messages a batch span handles.
MESSAGING_BATCH_COUNT = "messaging.batch.message_count"


def _links(headers: dict[str, str], *, external: bool) -> list[Link]:
    """A batch span links to each record's producer (a partner's link is marked untrusted)."""
    remote_span = trace.get_current_span(tracing.context_from_headers(headers)).get_span_context()
    if not remote_span.is_valid:
        return []
    return [Link(remote_span, {"xinyu.link.untrusted": True} if external else {})]


def _trace_parent(headers: dict[str, str], *, external: bool) -> tuple[Context, list[Link]]:
    """Our own producers' context becomes the parent; a partner's is only linked to."""
    remote = tracing.context_from_headers(headers)
    if not external:
        return remote, []
    remote_span = trace.get_current_span(remote).get_span_context()
    links = [Link(remote_span, {"xinyu.link.untrusted": True})] if remote_span.is_valid else []
    return Context(), links


def _try_decode(route: _Route, record: KafkaRecord) -> Message | None:
    try:
        return _decode(route, record)
    except Exception:  # whatever a decoder raises; the one-record path names the reason
        return None


def _decode(route: _Route, record: KafkaRecord) -> Message:
    message = route.decode(record.value() or b"")
    meta = validate_event(message)
    if meta.payload_type != route.payload_type:
        raise EnvelopeError("payload type does not match the topic's message type")
    return message


def _position(record: KafkaRecord) -> _Position:
    topic, partition, offset = record.topic(), record.partition(), record.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed record has a topic, partition and offset")
    return _Position(topic, partition, offset)


def _reason(kind: str, exc: BaseException) -> str:
    """A DLQ reason from the exception's type (and a PoisonMessage's own code), never its text."""
    if isinstance(exc, PoisonMessage):
        return f"{kind}:{exc.reason}"
    return f"{kind}:{error_type(exc)}"


def _fail_span(span: Span, exc: BaseException) -> None:
    # Not span.record_exception: the exception message may quote personal data.
    span.set_attribute(tracing.ERROR_TYPE, error_type(exc))
    span.set_status(Status(StatusCode.ERROR, error_type(exc)))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
