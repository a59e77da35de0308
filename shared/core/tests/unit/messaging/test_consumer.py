from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from xinyu.events.v1 import envelope_pb2, identity_pb2
from xinyu_core.messaging import (
    AsyncProducer,
    DeadLetter,
    EventConsumer,
    PoisonMessage,
    RetryPolicy,
    TransientError,
)
from xinyu_core.messaging.testing import (
    FakeBroker,
    FakeKafkaConsumer,
    FakeKafkaProducer,
    FakeRecord,
    eventually,
)
from xinyu_core.messaging.tracing import capture_trace_headers

TOPIC = "identity.student.enrolled.v1"
DLQ = TOPIC + ".dlq"
GROUP = "archives"
MakeEvent = Callable[..., identity_pb2.StudentEnrolled]
Spans = tuple[TracerProvider, InMemorySpanExporter]

# Planted personal data: none of it may reach logs, span attributes, keys or DLQ headers.
FAKE_NAME = "张小明"
FAKE_ID_NUMBER = "360702200801011234"


class Harness:
    """One consumer over the fakes, with the handler's effects stored transactionally."""

    def __init__(
        self,
        db: Any,
        inbox: Any,
        broker: FakeBroker,
        kafka_consumer: FakeKafkaConsumer,
        kafka_producer: FakeKafkaProducer,
        spans: Spans,
        *,
        max_batch: int = 1,
    ) -> None:
        self.db = db
        self.broker = broker
        self.kafka_consumer = kafka_consumer
        self.kafka_producer = kafka_producer
        self.exporter = spans[1]
        self.letters: list[DeadLetter] = []
        self.hook_failures = 0
        self.handler_error: Callable[[], BaseException] | None = None
        self.handler_errors_left = 0
        self.consumer = EventConsumer(
            consumer=kafka_consumer,
            consumer_group=GROUP,
            sessions=db,
            inbox=inbox,
            dlq_producer=AsyncProducer(kafka_producer),
            on_dead_letter=self._on_dead_letter,
            retry=RetryPolicy(initial_backoff_seconds=0.001, max_backoff_seconds=0.005),
            poll_timeout_seconds=0.01,
            max_batch=max_batch,
            tracer_provider=spans[0],
        )
        # Offset commits go on the same timeline as database commits, to check their order.
        commit = kafka_consumer.commit

        def commit_and_note(**kwargs: Any) -> Any:
            result = commit(**kwargs)
            db.timeline.append("offset-commit")
            return result

        kafka_consumer.commit = commit_and_note  # type: ignore[method-assign]

    async def handle(self, session: Any, message: identity_pb2.StudentEnrolled) -> None:
        assert session.db is self.db
        if self.handler_error is not None and self.handler_errors_left != 0:
            self.handler_errors_left -= 1
            raise self.handler_error()
        session.staged.append(lambda: self.db.effects.append(message.meta.event_id))

    async def _on_dead_letter(self, letter: DeadLetter) -> None:
        if self.hook_failures:
            self.hook_failures -= 1
            raise ConnectionError("review service unavailable")
        self.letters.append(letter)

    def publish(self, value: bytes, key: bytes | None = None, **headers: str) -> FakeRecord:
        encoded = [(name, text.encode()) for name, text in headers.items()]
        return self.broker.append(TOPIC, key or str(uuid.uuid4()).encode(), value, encoded)

    def committed(self, record: FakeRecord) -> int | None:
        return self.broker.committed(GROUP, record.topic(), record.partition())

    async def run_until(self, condition: Callable[[], bool]) -> None:
        task = asyncio.create_task(self.consumer.run())

        def reached() -> bool:
            if task.done():
                task.result()  # surface a crash instead of waiting for the deadline
            return condition()

        try:
            await eventually(reached)
        finally:
            self.consumer.stop()
            await asyncio.wait_for(task, timeout=2.0)

    def consumer_spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]


@pytest.fixture
def harness(
    db: Any,
    fake_inbox: Any,
    broker: FakeBroker,
    kafka_consumer: FakeKafkaConsumer,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
) -> Harness:
    h = Harness(db, fake_inbox, broker, kafka_consumer, kafka_producer, spans)
    h.consumer.register(TOPIC, identity_pb2.StudentEnrolled, h.handle)
    return h


async def test_handles_an_event_then_commits_the_database_then_the_offset(
    harness: Harness, make_event: MakeEvent
) -> None:
    event = make_event()
    record = harness.publish(event.SerializeToString(), key=event.meta.subject.encode())

    await harness.run_until(lambda: harness.committed(record) == 1)

    assert harness.db.effects == [event.meta.event_id]
    assert harness.db.inbox == {(GROUP, uuid.UUID(event.meta.event_id))}
    assert harness.db.timeline == ["db-commit", "offset-commit"]
    assert harness.kafka_consumer.subscribed == [TOPIC]
    assert harness.kafka_consumer.closed


async def test_the_same_event_delivered_twice_changes_nothing(
    harness: Harness, make_event: MakeEvent
) -> None:
    event = make_event()
    key = event.meta.subject.encode()
    harness.publish(event.SerializeToString(), key=key)
    again = harness.publish(event.SerializeToString(), key=key)

    await harness.run_until(lambda: harness.committed(again) == 2)

    assert harness.db.effects == [event.meta.event_id]
    assert [s.attributes["xinyu.messaging.outcome"] for s in harness.consumer_spans()] == [  # type: ignore[index]
        "handled",
        "duplicate",
    ]


async def test_a_lost_offset_commit_is_harmless_after_a_restart(
    harness: Harness,
    make_event: MakeEvent,
    db: Any,
    fake_inbox: Any,
    broker: FakeBroker,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
) -> None:
    event = make_event()
    harness.publish(event.SerializeToString())
    harness.kafka_consumer.fail_commits = True  # e.g. a rebalance took the partition
    await harness.run_until(lambda: len(harness.db.effects) == 1)

    restarted = Harness(
        db, fake_inbox, broker, FakeKafkaConsumer(broker, GROUP), kafka_producer, spans
    )
    restarted.consumer.register(TOPIC, identity_pb2.StudentEnrolled, restarted.handle)
    await restarted.run_until(lambda: "offset-commit" in db.timeline)

    assert db.effects == [event.meta.event_id]


async def test_an_undecodable_record_goes_to_the_dlq_and_the_next_one_is_handled(
    harness: Harness, make_event: MakeEvent
) -> None:
    key = str(uuid.uuid4()).encode()
    poison = harness.publish(b"\xff\xff\xff not protobuf", key=key, traceparent="garbage")
    good = make_event()
    after = harness.publish(good.SerializeToString(), key=key)

    await harness.run_until(lambda: harness.committed(after) == 2)

    (dead,) = harness.broker.records(DLQ)
    assert dead.value() == poison.value()
    assert dead.key() == key
    assert dead.header("traceparent") == "garbage"  # the original headers travel along
    assert dead.header("x-dlq-reason") == "undecodable:google.protobuf.message.DecodeError"
    assert dead.header("x-dlq-original-topic") == TOPIC
    assert dead.header("x-dlq-original-partition") == str(poison.partition())
    assert dead.header("x-dlq-original-offset") == "0"
    assert dead.header("x-dlq-consumer-group") == GROUP
    assert harness.db.effects == [good.meta.event_id]
    (letter,) = harness.letters
    assert letter.reason == "undecodable:google.protobuf.message.DecodeError"
    assert letter.event_id is None
    assert letter.dlq_topic == DLQ
    assert letter.value == poison.value()


async def test_a_record_with_a_broken_envelope_is_poison(
    harness: Harness, make_event: MakeEvent
) -> None:
    event = make_event()
    event.meta.event_id = "not-a-uuid"
    record = harness.publish(event.SerializeToString())
    await harness.run_until(lambda: harness.committed(record) == 1)
    (dead,) = harness.broker.records(DLQ)
    assert dead.header("x-dlq-reason") == "undecodable:xinyu_core.messaging.events.InvalidMeta"


async def test_a_handler_rejection_is_dead_lettered_and_its_effects_rolled_back(
    harness: Harness, make_event: MakeEvent
) -> None:
    harness.handler_error = lambda: PoisonMessage("Unknown school code")
    harness.handler_errors_left = -1
    event = make_event()
    record = harness.publish(event.SerializeToString())

    await harness.run_until(lambda: harness.committed(record) == 1)

    (dead,) = harness.broker.records(DLQ)
    assert dead.header("x-dlq-reason") == "rejected:unknown-school-code"
    assert harness.db.effects == []
    # The inbox row went with the rollback, so a replay from the DLQ is not taken for a repeat.
    assert harness.db.inbox == set()
    (letter,) = harness.letters
    assert letter.event_id == uuid.UUID(event.meta.event_id)
    assert letter.subject == event.meta.subject
    (span,) = harness.consumer_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["xinyu.messaging.outcome"] == "dead-lettered"


async def test_a_database_outage_is_retried_without_committing(
    harness: Harness, make_event: MakeEvent
) -> None:
    harness.db.outages = 3
    event = make_event()
    record = harness.publish(event.SerializeToString())

    await harness.run_until(lambda: harness.committed(record) == 1)

    assert harness.db.effects == [event.meta.event_id]
    assert len(harness.kafka_consumer.seeks) == 3
    assert all(seek[2] == record.offset() for seek in harness.kafka_consumer.seeks)
    assert harness.kafka_consumer.commits == [(TOPIC, record.partition(), 1)]
    assert harness.broker.records(DLQ) == []


async def test_a_transient_handler_error_is_retried_without_limit(
    harness: Harness, make_event: MakeEvent
) -> None:
    harness.handler_error = lambda: TransientError("grpc deadline")
    harness.handler_errors_left = 8  # more than max_attempts_for_unexpected_errors
    record = harness.publish(make_event().SerializeToString())

    await harness.run_until(lambda: harness.committed(record) == 1)

    assert len(harness.db.effects) == 1
    assert harness.broker.records(DLQ) == []
    assert harness.db.rollbacks == 8


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_a_few_attempts(
    harness: Harness, make_event: MakeEvent
) -> None:
    harness.handler_error = lambda: KeyError("bug")
    harness.handler_errors_left = -1
    record = harness.publish(make_event().SerializeToString())

    await harness.run_until(lambda: harness.committed(record) == 1)

    (dead,) = harness.broker.records(DLQ)
    assert dead.header("x-dlq-reason") == "handler-failed:KeyError"
    assert harness.db.rollbacks == RetryPolicy().max_attempts_for_unexpected_errors


async def test_a_failed_dlq_produce_is_retried_and_nothing_is_committed_meanwhile(
    harness: Harness,
) -> None:
    harness.kafka_producer.failing_topics[DLQ] = KafkaError._TRANSPORT
    record = harness.publish(b"\xff\xff")
    task = asyncio.create_task(harness.run_until(lambda: harness.committed(record) == 1))
    await eventually(lambda: len(harness.kafka_consumer.seeks) >= 3)
    assert harness.committed(record) is None
    assert harness.letters == []

    del harness.kafka_producer.failing_topics[DLQ]
    await task
    assert len(harness.broker.records(DLQ)) == 1
    assert len(harness.letters) == 1


async def test_a_failing_hook_is_retried_without_dead_lettering_twice(harness: Harness) -> None:
    harness.hook_failures = 2
    record = harness.publish(b"\xff\xff")

    await harness.run_until(lambda: harness.committed(record) == 1)

    assert len(harness.broker.records(DLQ)) == 1
    assert len(harness.letters) == 1


async def test_the_consumer_span_is_a_child_of_the_producers(
    harness: Harness, make_event: MakeEvent, spans: Spans
) -> None:
    provider, _ = spans
    with provider.get_tracer("t").start_as_current_span("send", kind=SpanKind.PRODUCER) as send:
        headers = capture_trace_headers()
    event = make_event()
    record = harness.publish(event.SerializeToString(), **headers)

    await harness.run_until(lambda: harness.committed(record) == 1)

    (span,) = harness.consumer_spans()
    assert span.name == f"process {TOPIC}"
    assert span.parent is not None
    assert span.parent.span_id == send.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == send.get_span_context().trace_id
    assert span.links == ()
    assert span.attributes == {
        "messaging.system": "kafka",
        "messaging.destination.name": TOPIC,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.consumer.group.name": GROUP,
        "messaging.destination.partition.id": str(record.partition()),
        "messaging.kafka.offset": record.offset(),
        "messaging.message.id": event.meta.event_id,
        "xinyu.messaging.outcome": "handled",
    }


async def test_a_partner_topic_starts_a_new_trace_and_only_links_to_theirs(
    db: Any,
    fake_inbox: Any,
    broker: FakeBroker,
    kafka_consumer: FakeKafkaConsumer,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
    make_event: MakeEvent,
) -> None:
    provider, _ = spans
    harness = Harness(db, fake_inbox, broker, kafka_consumer, kafka_producer, spans)
    harness.consumer.register(TOPIC, identity_pb2.StudentEnrolled, harness.handle, external=True)
    with provider.get_tracer("t").start_as_current_span("partner") as partner:
        headers = capture_trace_headers()
    record = harness.publish(make_event().SerializeToString(), **headers)

    with provider.get_tracer("t").start_as_current_span("ambient"):
        # Not even an ambient span may become the parent of a partner's message.
        await harness.run_until(lambda: harness.committed(record) == 1)

    (span,) = harness.consumer_spans()
    assert span.parent is None
    assert span.context is not None
    assert span.context.trace_id != partner.get_span_context().trace_id
    (link,) = span.links
    assert link.context.span_id == partner.get_span_context().span_id
    assert link.attributes == {"xinyu.link.untrusted": True}


async def test_a_custom_decoder_for_a_partners_json(
    db: Any,
    fake_inbox: Any,
    broker: FakeBroker,
    kafka_consumer: FakeKafkaConsumer,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
    make_event: MakeEvent,
) -> None:
    from google.protobuf import json_format

    harness = Harness(db, fake_inbox, broker, kafka_consumer, kafka_producer, spans)

    def from_json(raw: bytes) -> identity_pb2.StudentEnrolled:
        return json_format.Parse(raw, identity_pb2.StudentEnrolled())

    harness.consumer.register(
        TOPIC, identity_pb2.StudentEnrolled, harness.handle, external=True, decode=from_json
    )
    event = make_event()
    good = harness.publish(json_format.MessageToJson(event).encode())
    bad = harness.publish(b'{"meta": 12')

    # The two records may land on different partitions: wait until each one's own offset is
    # committed past it (a committed offset is the next one to read).
    def handled(record: FakeRecord) -> bool:
        return (harness.committed(record) or 0) > int(record.offset())

    await harness.run_until(lambda: handled(good) and handled(bad))

    assert harness.db.effects == [event.meta.event_id]
    (dead,) = harness.broker.records(DLQ)
    assert dead.header("x-dlq-reason") == "undecodable:google.protobuf.json_format.ParseError"


async def test_no_personal_data_in_logs_spans_or_dlq_headers(
    harness: Harness, make_event: MakeEvent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="xinyu_core.messaging")
    planted = f"{FAKE_NAME} {FAKE_ID_NUMBER}"
    event = make_event()
    event.school_code = planted  # personal data inside a payload (it must stay there)
    harness.handler_error = lambda: ValueError(f"no school for {planted}")
    harness.handler_errors_left = -1
    record = harness.publish(event.SerializeToString())
    harness.publish(b"\xff" + planted.encode())

    await harness.run_until(lambda: len(harness.broker.records(DLQ)) == 2)
    assert harness.committed(record) is not None

    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert "dead-lettered" in logged  # the log did say what happened...
    assert FAKE_NAME not in logged  # ...without saying about whom
    assert FAKE_ID_NUMBER not in logged
    for span in harness.exporter.get_finished_spans():
        rendered = f"{span.attributes} {span.status.description} {span.events} {span.name}"
        assert FAKE_NAME not in rendered
        assert FAKE_ID_NUMBER not in rendered
    for dead in harness.broker.records(DLQ):
        for name, value in dead.headers() or []:
            if name.startswith("x-dlq-"):
                assert FAKE_ID_NUMBER not in str(value)
                assert FAKE_NAME.encode() not in (value or b"")


def test_a_poison_reason_is_a_code_not_free_text() -> None:
    assert PoisonMessage("Unknown School Code").reason == "unknown-school-code"
    assert PoisonMessage(FAKE_NAME).reason == "unspecified"
    assert len(PoisonMessage("x" * 500).reason) == 100


async def test_stop_returns_and_closes_the_consumer(harness: Harness) -> None:
    task = asyncio.create_task(harness.consumer.run())
    await asyncio.sleep(0.05)
    harness.consumer.stop()
    await asyncio.wait_for(task, timeout=1.0)
    assert harness.kafka_consumer.closed


async def test_poll_errors_are_logged_and_consumption_goes_on(
    harness: Harness, make_event: MakeEvent
) -> None:
    harness.kafka_consumer.injected.append(
        FakeRecord(TOPIC, 0, 0, None, None, error=KafkaError(KafkaError._TRANSPORT))
    )
    record = harness.publish(make_event().SerializeToString())
    await harness.run_until(lambda: harness.committed(record) == 1)


async def test_a_fatal_poll_error_ends_the_run_and_closes_the_consumer(harness: Harness) -> None:
    harness.kafka_consumer.injected.append(
        FakeRecord(TOPIC, 0, 0, None, None, error=KafkaError(KafkaError._FATAL, fatal=True))
    )
    with pytest.raises(KafkaException):
        await asyncio.wait_for(harness.consumer.run(), timeout=1.0)
    assert harness.kafka_consumer.closed


def _handler() -> Callable[[Any, Any], Awaitable[None]]:
    async def handle(session: Any, message: Any) -> None:
        return None

    return handle


def test_registration_is_checked(harness: Harness) -> None:
    with pytest.raises(ValueError, match="already registered"):
        harness.consumer.register(TOPIC, identity_pb2.StudentEnrolled, _handler())
    with pytest.raises(ValueError, match="topic"):
        harness.consumer.register("enrolments", identity_pb2.StudentEnrolled, _handler())
    with pytest.raises(TypeError, match="meta"):
        harness.consumer.register("platform.test.scratch.v1", envelope_pb2.EventMeta, _handler())


async def test_run_without_handlers_is_a_wiring_error(
    db: Any, fake_inbox: Any, kafka_consumer: FakeKafkaConsumer, kafka_producer: FakeKafkaProducer
) -> None:
    consumer = EventConsumer(
        consumer=kafka_consumer,
        consumer_group=GROUP,
        sessions=db,
        inbox=fake_inbox,
        dlq_producer=AsyncProducer(kafka_producer),
    )
    with pytest.raises(RuntimeError, match="no handlers"):
        await consumer.run()


def test_retry_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=4)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_trace_module_is_used_only_through_explicit_providers() -> None:
    # Building a consumer must not install a global tracer provider (no state at import time).
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


# --- batches -------------------------------------------------------------------------------


@pytest.fixture
def batching(
    db: Any,
    fake_batch_inbox: Any,
    broker: FakeBroker,
    kafka_consumer: FakeKafkaConsumer,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
) -> Harness:
    h = Harness(db, fake_batch_inbox, broker, kafka_consumer, kafka_producer, spans, max_batch=5)
    h.consumer.register(TOPIC, identity_pb2.StudentEnrolled, h.handle)
    return h


def _backlog(h: Harness, make_event: MakeEvent, count: int) -> list[FakeRecord]:
    key = b"one-partition"  # one partition, so the order of effects is the order of offsets
    producer = TracerProvider().get_tracer("producer")
    records = []
    for _ in range(count):
        with producer.start_as_current_span("send"):
            headers = capture_trace_headers()
        records.append(h.publish(make_event().SerializeToString(), key=key, **headers))
    return records


async def test_a_backlog_is_applied_a_batch_per_transaction_and_offset_commit(
    batching: Harness, make_event: MakeEvent
) -> None:
    records = _backlog(batching, make_event, 10)

    await batching.run_until(lambda: batching.committed(records[-1]) == 10)

    assert batching.db.effects == [
        identity_pb2.StudentEnrolled.FromString(r.value() or b"").meta.event_id for r in records
    ]
    assert batching.db.timeline == ["db-commit", "offset-commit"] * 2
    assert [c[2] for c in batching.kafka_consumer.commits] == [5, 10]
    (span, _) = batching.consumer_spans()
    assert span.attributes is not None
    assert span.attributes["messaging.batch.message_count"] == 5
    assert len(span.links) == 5  # one link to each record's producer


async def test_a_lone_record_is_not_held_back_to_fill_a_batch(
    batching: Harness, make_event: MakeEvent
) -> None:
    (record,) = _backlog(batching, make_event, 1)

    await batching.run_until(lambda: batching.committed(record) == 1)

    assert len(batching.db.effects) == 1


async def test_a_repeat_inside_a_batch_is_applied_once(
    batching: Harness, make_event: MakeEvent
) -> None:
    event = make_event()
    key = b"one-partition"
    batching.publish(event.SerializeToString(), key=key)
    other = batching.publish(make_event().SerializeToString(), key=key)
    again = batching.publish(event.SerializeToString(), key=key)

    await batching.run_until(lambda: batching.committed(again) == 3)

    assert batching.db.effects == [
        event.meta.event_id,
        identity_pb2.StudentEnrolled.FromString(other.value() or b"").meta.event_id,
    ]


async def test_an_undecodable_record_is_dead_lettered_alone_and_the_rest_stay_a_batch(
    batching: Harness, make_event: MakeEvent, fake_batch_inbox: Any
) -> None:
    key = b"one-partition"
    before = [batching.publish(make_event().SerializeToString(), key=key) for _ in range(2)]
    batching.publish(b"\xff not protobuf", key=key)
    after = [batching.publish(make_event().SerializeToString(), key=key) for _ in range(2)]

    await batching.run_until(lambda: batching.committed(after[-1]) == 5)

    assert len(batching.broker.records(DLQ)) == 1
    assert batching.db.effects == [
        identity_pb2.StudentEnrolled.FromString(r.value() or b"").meta.event_id
        for r in before + after
    ]
    assert len(batching.letters) == 1
    assert fake_batch_inbox.batches == [4]


async def test_a_handler_rejection_in_a_batch_rolls_back_the_batch_and_loses_nothing(
    batching: Harness, make_event: MakeEvent
) -> None:
    records = _backlog(batching, make_event, 5)
    # The batch's attempt fails (rolled back whole); one at a time, the first record fails too
    # and is dead-lettered; the other four are applied.
    batching.handler_error = lambda: PoisonMessage("unknown-school-code")
    batching.handler_errors_left = 2

    await batching.run_until(lambda: batching.committed(records[-1]) == 5)

    assert len(batching.broker.records(DLQ)) == 1
    assert len(batching.db.effects) == 4
    assert batching.db.inbox == {
        (GROUP, uuid.UUID(e)) for e in batching.db.effects
    }  # the rejected record left no inbox row behind


async def test_an_outage_during_a_batch_rewinds_and_applies_every_record_once(
    batching: Harness, make_event: MakeEvent
) -> None:
    records = _backlog(batching, make_event, 5)
    batching.db.outages = 2  # the batch's transaction and the first record's both fail

    await batching.run_until(lambda: batching.committed(records[-1]) == 5)

    assert sorted(batching.db.effects) == sorted(
        identity_pb2.StudentEnrolled.FromString(r.value() or b"").meta.event_id for r in records
    )
    assert batching.kafka_consumer.seeks[0] == (TOPIC, records[0].partition(), 0)
    assert batching.broker.records(DLQ) == []


async def test_a_batch_handler_gets_the_batchs_new_events_in_order(
    db: Any,
    fake_batch_inbox: Any,
    broker: FakeBroker,
    kafka_consumer: FakeKafkaConsumer,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
    make_event: MakeEvent,
) -> None:
    h = Harness(db, fake_batch_inbox, broker, kafka_consumer, kafka_producer, spans, max_batch=4)
    seen: list[list[str]] = []

    async def handle_many(session: Any, messages: Any) -> None:
        seen.append([m.meta.event_id for m in messages])
        for message in messages:
            await h.handle(session, message)

    h.consumer.register_batch(TOPIC, identity_pb2.StudentEnrolled, handle_many)
    records = _backlog(h, make_event, 6)

    await h.run_until(lambda: h.committed(records[-1]) == 6)

    assert [len(batch) for batch in seen] == [4, 2]
    assert [e for batch in seen for e in batch] == db.effects


def test_batches_need_an_inbox_that_claims_many(
    db: Any,
    broker: FakeBroker,
    kafka_consumer: FakeKafkaConsumer,
    kafka_producer: FakeKafkaProducer,
    spans: Spans,
    fake_inbox: Any,
) -> None:
    with pytest.raises(TypeError, match="claim_many"):
        Harness(db, fake_inbox, broker, kafka_consumer, kafka_producer, spans, max_batch=2)


async def test_after_a_retry_in_a_batch_nothing_past_the_retried_record_is_committed(
    batching: Harness, make_event: MakeEvent
) -> None:
    records = _backlog(batching, make_event, 4)
    # The batch fails (rolled back), then the first record one at a time: it is retried, and
    # the partition's committed offset must not move past it meanwhile.
    batching.handler_error = lambda: TransientError("identity unavailable")
    batching.handler_errors_left = 2
    commits_while_retrying: list[int] = []
    seek = batching.kafka_consumer.seek

    def seek_and_note(partition: Any) -> None:
        commits_while_retrying.append(batching.committed(records[0]) or 0)
        seek(partition)

    batching.kafka_consumer.seek = seek_and_note  # type: ignore[method-assign]

    await batching.run_until(lambda: batching.committed(records[-1]) == 4)

    assert commits_while_retrying == [0]
    assert len(batching.db.effects) == 4
