"""The outbox → Kafka → inbox path against the real local PostgreSQL and Kafka.

(a) a committed event is published exactly once, with traceparent, and the consumer's span is in
    the producer's trace; (b) a crash between commit and publish loses nothing, and a rolled-back
    event is never sent; (c) a poison record lands in the DLQ with its reason and consumption goes
    on; (d) the same event delivered twice has one effect; (e) the broker accepts the producer
    configuration with idempotence.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
from confluent_kafka import Producer
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xinyu.events.v1 import identity_pb2
from xinyu_core.messaging import (
    AsyncProducer,
    DeadLetter,
    EventConsumer,
    OutboxRelay,
    OutboxWriter,
    OutgoingRecord,
    PoisonMessage,
    PostgresInbox,
    PostgresOutbox,
    build_consumer,
    producer_config,
    stamp,
)
from xinyu_core.settings import KafkaSettings

pytestmark = pytest.mark.integration

SCRATCH = "platform.test.scratch.v1"
SCRATCH_DLQ = SCRATCH + ".dlq"
CLIENT_ID = "tests-messaging"
REJECT = "reject-me"
Spans = tuple[TracerProvider, InMemorySpanExporter]


class Runnable(Protocol):
    async def run(self) -> None: ...
    def stop(self) -> None: ...


def enrolled(school_code: str = "3607020001") -> identity_pb2.StudentEnrolled:
    student = str(uuid.uuid4())
    message = identity_pb2.StudentEnrolled(
        student_id=student, school_code=school_code, county_code="360702"
    )
    message.enrolled_at.FromDatetime(datetime(2025, 9, 1, tzinfo=UTC))
    stamp(message, "identity", student)
    return message


@asynccontextmanager
async def running(*workers: Runnable) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield
        for task in tasks:
            if task.done():
                task.result()  # surface a crashed worker
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


class Scenario:
    """The pieces a service's composition root would build, on the test's own tables."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: Any,
        producer: AsyncProducer,
        spans: Spans,
        kafka: KafkaSettings,
    ) -> None:
        self.kafka = kafka
        self.sessions = sessions
        self.tables = tables
        self.producer = producer
        self.provider, self.exporter = spans
        self.letters: list[DeadLetter] = []

    def relay(self, producer: AsyncProducer | None = None, **options: Any) -> OutboxRelay:
        return OutboxRelay(
            self.sessions,
            PostgresOutbox(self.tables.outbox),
            producer or self.producer,
            poll_interval_seconds=options.pop("poll_interval_seconds", 0.2),
            tracer_provider=self.provider,
            **options,
        )

    def writer(self, relay: OutboxRelay | None = None) -> OutboxWriter:
        return OutboxWriter(self.tables.outbox, on_commit=relay.wake if relay else None)

    def consumer(self, group: str) -> EventConsumer:
        consumer = EventConsumer(
            consumer=build_consumer(self.kafka, CLIENT_ID, group),
            consumer_group=group,
            sessions=self.sessions,
            inbox=PostgresInbox(self.tables.inbox),
            dlq_producer=self.producer,
            on_dead_letter=self._on_dead_letter,
            poll_timeout_seconds=0.2,
            tracer_provider=self.provider,
        )
        consumer.register(SCRATCH, identity_pb2.StudentEnrolled, self.handle)
        return consumer

    async def handle(self, session: AsyncSession, message: identity_pb2.StudentEnrolled) -> None:
        if message.school_code == REJECT:
            raise PoisonMessage("unknown-school-code")
        await session.execute(
            insert(self.tables.effects).values(
                event_id=uuid.UUID(message.meta.event_id), school_code=message.school_code
            )
        )

    async def _on_dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    async def store(self, event: identity_pb2.StudentEnrolled, writer: OutboxWriter) -> None:
        async with self.sessions.begin() as session:
            await writer.add(session, SCRATCH, event)

    async def unpublished(self) -> list[uuid.UUID]:
        outbox = self.tables.outbox
        async with self.sessions() as session:
            result = await session.scalars(
                select(outbox.c.event_id).where(outbox.c.published_at.is_(None))
            )
            return list(result)

    async def outbox_ids(self) -> list[uuid.UUID]:
        async with self.sessions() as session:
            return list(await session.scalars(select(self.tables.outbox.c.event_id)))

    def spans_of(self, kind: SpanKind, event_id: str) -> list[ReadableSpan]:
        return [
            span
            for span in self.exporter.get_finished_spans()
            if span.kind is kind
            and span.attributes is not None
            and span.attributes.get("messaging.message.id") == event_id
        ]


@pytest.fixture
def scenario(
    sessions: async_sessionmaker[AsyncSession],
    tables: Any,
    producer: AsyncProducer,
    spans: Spans,
    kafka: KafkaSettings,
) -> Scenario:
    return Scenario(sessions, tables, producer, spans, kafka)


def _with_event(event_id: str) -> Callable[[Sequence[Any]], bool]:
    return lambda records: any(r.headers.get("x-event-id") == event_id for r in records)


# --- (e) -----------------------------------------------------------------------------------


async def test_e_the_broker_accepts_the_producer_config_with_idempotence(
    scenario: Scenario, probe: Any
) -> None:
    stats: list[dict[str, Any]] = []
    config = producer_config(scenario.kafka, CLIENT_ID)
    config |= {"statistics.interval.ms": 100, "stats_cb": lambda raw: stats.append(json.loads(raw))}
    raw_producer = Producer(config)
    since = await asyncio.to_thread(probe.ends, SCRATCH)
    event = enrolled()

    report = await AsyncProducer(raw_producer).send(
        OutgoingRecord(
            SCRATCH,
            key=event.meta.subject.encode(),
            value=event.SerializeToString(),
            headers=[("x-event-id", event.meta.event_id.encode())],
        )
    )

    assert report.delivered, report.error
    for _ in range(50):  # statistics are emitted from poll()
        await asyncio.to_thread(raw_producer.poll, 0.1)
        if stats and stats[-1].get("eos", {}).get("idemp_state") == "Assigned":
            break
    eos = stats[-1]["eos"]
    assert eos["idemp_state"] == "Assigned"
    assert eos["producer_id"] >= 0  # the broker handed out a producer id: idempotence is on
    records = await asyncio.to_thread(probe.read, SCRATCH, since, _with_event(event.meta.event_id))
    (record,) = [r for r in records if r.headers.get("x-event-id") == event.meta.event_id]
    assert record.key == event.meta.subject.encode()
    assert report.partition == record.partition
    assert report.offset == record.offset


# --- (a) -----------------------------------------------------------------------------------


async def test_a_committed_event_is_published_once_and_consumed_in_the_producers_trace(
    scenario: Scenario, probe: Any, rows: Any
) -> None:
    group = probe.new_group()
    await asyncio.to_thread(probe.start_group_at_end, group, SCRATCH)
    since = await asyncio.to_thread(probe.ends, SCRATCH)
    relay = scenario.relay(poll_interval_seconds=30)  # only a wake() can make it publish fast
    writer = scenario.writer(relay)
    event = enrolled()
    event_id = event.meta.event_id

    async with running(relay, scenario.consumer(group)):
        with scenario.provider.get_tracer("test").start_as_current_span("enrol") as request:
            await scenario.store(event, writer)
        assert await rows(scenario.sessions, scenario.tables.effects, 1, event_id=event_id) == 1

    records = await asyncio.to_thread(probe.read, SCRATCH, since, lambda found: False, 3.0)
    mine = [r for r in records if r.headers.get("x-event-id") == event_id]
    assert len(mine) == 1  # exactly once on the topic
    (record,) = mine
    assert record.key == event.meta.subject.encode()
    assert identity_pb2.StudentEnrolled.FromString(record.value or b"") == event
    assert record.headers["traceparent"].startswith("00-")
    assert await scenario.unpublished() == []

    request_trace = request.get_span_context().trace_id
    (send,) = scenario.spans_of(SpanKind.PRODUCER, event_id)
    (process,) = scenario.spans_of(SpanKind.CONSUMER, event_id)
    assert send.context is not None
    assert process.context is not None
    assert send.context.trace_id == request_trace  # the send continues the request's trace
    assert record.headers["traceparent"].split("-")[2] == f"{send.context.span_id:016x}"
    assert process.context.trace_id == send.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id


# --- (b) -----------------------------------------------------------------------------------


class _DiesMidPublish:
    """Stands in for AsyncProducer: the relay's process is killed after claiming rows, before
    the broker acknowledges anything."""

    def __init__(self) -> None:
        self.claimed = asyncio.Event()

    async def send_all(self, records: Sequence[OutgoingRecord]) -> Any:
        self.claimed.set()
        await asyncio.Event().wait()  # never returns: the task is cancelled ("kill -9")


async def test_b_a_crash_before_publishing_loses_nothing_and_a_rollback_sends_nothing(
    scenario: Scenario, probe: Any
) -> None:
    since = await asyncio.to_thread(probe.ends, SCRATCH)
    writer = scenario.writer()  # no relay running while the event is committed
    kept, rolled_back = enrolled(), enrolled()
    await scenario.store(kept, writer)

    class Abort(Exception):
        pass

    async def store_then_fail() -> None:
        async with scenario.sessions.begin() as session:
            await writer.add(session, SCRATCH, rolled_back)
            raise Abort

    with pytest.raises(Abort):
        await store_then_fail()
    assert await scenario.outbox_ids() == [uuid.UUID(kept.meta.event_id)]

    dying = _DiesMidPublish()
    doomed = asyncio.create_task(scenario.relay(dying).run())  # type: ignore[arg-type]
    await asyncio.wait_for(dying.claimed.wait(), timeout=10)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await scenario.unpublished() == [uuid.UUID(kept.meta.event_id)]

    assert await scenario.relay().publish_pending() == 1

    records = await asyncio.to_thread(
        probe.read, SCRATCH, since, _with_event(kept.meta.event_id), 10.0
    )
    ids = [r.headers.get("x-event-id") for r in records]
    assert ids.count(kept.meta.event_id) == 1
    # Read a little longer: a rolled-back event must never appear.
    more = await asyncio.to_thread(probe.read, SCRATCH, since, lambda found: False, 2.0)
    assert rolled_back.meta.event_id not in [r.headers.get("x-event-id") for r in more]
    assert await scenario.unpublished() == []


# --- (c) -----------------------------------------------------------------------------------


async def test_c_poison_goes_to_the_dlq_with_its_reason_and_the_next_event_is_handled(
    scenario: Scenario, probe: Any, rows: Any
) -> None:
    if not await asyncio.to_thread(probe.partitions, SCRATCH_DLQ):
        pytest.fail(f"{SCRATCH_DLQ} does not exist: provision the topics (infra/local/stack up)")
    group = probe.new_group()
    await asyncio.to_thread(probe.start_group_at_end, group, SCRATCH)
    dlq_since = await asyncio.to_thread(probe.ends, SCRATCH_DLQ)
    key = str(uuid.uuid4()).encode()  # one key: one partition, so the order below holds
    garbage = b"\xff\xfe definitely not protobuf"
    rejected, good = enrolled(REJECT), enrolled()

    undecodable = await scenario.producer.send(OutgoingRecord(SCRATCH, key=key, value=garbage))
    for event in (rejected, good):
        await scenario.producer.send(
            OutgoingRecord(SCRATCH, key=key, value=event.SerializeToString())
        )
    async with running(scenario.consumer(group)):
        effects = scenario.tables.effects
        assert await rows(scenario.sessions, effects, 1, event_id=good.meta.event_id) == 1

    dead = await asyncio.to_thread(
        probe.read, SCRATCH_DLQ, dlq_since, lambda found: len(found) >= 2, 10.0
    )
    by_offset = {
        int(r.headers["x-dlq-original-offset"]): r
        for r in dead
        if r.headers.get("x-dlq-consumer-group") == group
    }
    first = by_offset[undecodable.offset or 0]
    assert first.value == garbage
    assert first.key == key
    assert first.headers["x-dlq-reason"] == "undecodable:google.protobuf.message.DecodeError"
    assert first.headers["x-dlq-original-topic"] == SCRATCH
    assert first.headers["x-dlq-original-partition"] == str(undecodable.partition)
    second = by_offset[(undecodable.offset or 0) + 1]
    assert second.headers["x-dlq-reason"] == "rejected:unknown-school-code"
    assert identity_pb2.StudentEnrolled.FromString(second.value or b"") == rejected
    # The hook heard about both, so a human review task can be raised for each.
    assert sorted(letter.reason for letter in scenario.letters) == [
        "rejected:unknown-school-code",
        "undecodable:google.protobuf.message.DecodeError",
    ]
    assert await rows(scenario.sessions, scenario.tables.effects, 1, within=0.1) == 1


# --- (d) -----------------------------------------------------------------------------------


class _LosesTheMark(PostgresOutbox):
    """The relay crashes after the broker acknowledged, before its commit: the row is re-sent."""

    async def mark_published(self, session: AsyncSession, ids: Sequence[int]) -> None:
        raise ConnectionResetError("process killed before commit")


async def test_d_the_same_event_delivered_twice_has_one_effect(
    scenario: Scenario, probe: Any, rows: Any
) -> None:
    group = probe.new_group()
    await asyncio.to_thread(probe.start_group_at_end, group, SCRATCH)
    since = await asyncio.to_thread(probe.ends, SCRATCH)
    event = enrolled()
    event_id = event.meta.event_id
    await scenario.store(event, scenario.writer())

    crashing = OutboxRelay(
        scenario.sessions, _LosesTheMark(scenario.tables.outbox), scenario.producer
    )
    with pytest.raises(ConnectionResetError):
        await crashing.publish_pending()
    assert await scenario.unpublished() == [uuid.UUID(event_id)]
    assert await scenario.relay().publish_pending() == 1
    # And once more by hand, as a partner replaying the topic would.
    await scenario.producer.send(
        OutgoingRecord(SCRATCH, key=event.meta.subject.encode(), value=event.SerializeToString())
    )
    on_topic = await asyncio.to_thread(
        probe.read, SCRATCH, since, lambda found: len(found) >= 3, 10.0
    )
    assert len([r for r in on_topic if r.value == event.SerializeToString()]) == 3

    consumer = scenario.consumer(group)
    async with running(consumer):
        assert await rows(scenario.sessions, scenario.tables.effects, 1, event_id=event_id) == 1
        await _until_committed(probe, group, since, 3)

    effects = scenario.tables.effects
    assert await rows(scenario.sessions, effects, 2, within=0.5, event_id=event_id) == 1
    inbox = scenario.tables.inbox
    assert await rows(scenario.sessions, inbox, 2, within=0.1, consumer_group=group) == 1


async def _until_committed(probe: Any, group: str, since: dict[int, int], count: int) -> None:
    """Wait until ``group`` has committed offsets past ``count`` records after ``since``."""
    for _ in range(100):
        committed = await asyncio.to_thread(probe.committed, group, SCRATCH)
        progressed = sum(max(offset - since[p], 0) for p, offset in committed.items())
        if progressed >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the consumer did not commit its offsets")
