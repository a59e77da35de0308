from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from xinyu.events.v1 import identity_pb2
from xinyu_core.messaging import AsyncProducer, OutboxRelay
from xinyu_core.messaging.outbox import PendingEvent
from xinyu_core.messaging.testing import FakeBroker, FakeKafkaProducer, eventually
from xinyu_core.messaging.tracing import capture_trace_headers, context_from_headers

TOPIC = "identity.student.enrolled.v1"
MakeEvent = Callable[..., identity_pb2.StudentEnrolled]
Spans = tuple[TracerProvider, InMemorySpanExporter]


def _pending(row_id: int, event: identity_pb2.StudentEnrolled, **headers: str) -> PendingEvent:
    return PendingEvent(
        id=row_id,
        event_id=uuid.UUID(event.meta.event_id),
        topic=TOPIC,
        key=event.meta.subject,
        payload=event.SerializeToString(),
        headers={"content-type": "application/x-protobuf", **headers},
    )


def _relay(
    db: Any, store: Any, producer: FakeKafkaProducer, spans: Spans | None = None, **options: Any
) -> OutboxRelay:
    return OutboxRelay(
        db,
        store,
        AsyncProducer(producer),
        tracer_provider=spans[0] if spans else None,
        **options,
    )


async def test_publishes_committed_rows_in_order_and_marks_them(
    db: Any,
    fake_outbox_store: Any,
    kafka_producer: FakeKafkaProducer,
    broker: FakeBroker,
    make_event: MakeEvent,
) -> None:
    subject = str(uuid.uuid4())
    events = [make_event(subject) for _ in range(3)]
    db.outbox.extend(_pending(i + 1, event) for i, event in enumerate(events))

    assert await _relay(db, fake_outbox_store, kafka_producer).publish_pending() == 3

    records = broker.records(TOPIC)
    assert [r.value() for r in records] == [e.SerializeToString() for e in events]
    assert {r.key() for r in records} == {subject.encode()}
    assert records[0].header("content-type") == "application/x-protobuf"
    assert db.published == {1, 2, 3}
    assert db.commits == 1


async def test_nothing_pending_produces_nothing(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer
) -> None:
    assert await _relay(db, fake_outbox_store, kafka_producer).publish_pending() == 0
    assert kafka_producer.flush_calls == 0


async def test_an_unacknowledged_row_stays_unpublished_and_is_sent_next_time(
    db: Any,
    fake_outbox_store: Any,
    kafka_producer: FakeKafkaProducer,
    broker: FakeBroker,
    make_event: MakeEvent,
) -> None:
    first, second = make_event(), make_event()
    db.outbox.extend([_pending(1, first), _pending(2, second)])
    kafka_producer.fail_next.append(KafkaError._MSG_TIMED_OUT)
    relay = _relay(db, fake_outbox_store, kafka_producer)

    assert await relay.publish_pending() == 1
    assert db.published == {2}
    assert await relay.publish_pending() == 1
    assert db.published == {1, 2}
    values = [r.value() for r in broker.records(TOPIC)]
    assert sorted(values) == sorted([first.SerializeToString(), second.SerializeToString()])


class _Crash(Exception):
    pass


class _CrashingProducer(FakeKafkaProducer):
    """The process dies while the batch is with the broker (before any acknowledgement)."""

    def flush(self, timeout: float = -1) -> int:
        raise _Crash


async def test_a_crash_before_acknowledgement_leaves_rows_for_the_next_relay(
    db: Any,
    fake_outbox_store: Any,
    broker: FakeBroker,
    kafka_producer: FakeKafkaProducer,
    make_event: MakeEvent,
) -> None:
    db.outbox.append(_pending(1, make_event()))
    with pytest.raises(_Crash):
        await _relay(db, fake_outbox_store, _CrashingProducer(broker)).publish_pending()
    assert db.published == set()
    assert db.rollbacks == 1

    assert await _relay(db, fake_outbox_store, kafka_producer).publish_pending() == 1
    assert len(broker.records(TOPIC)) == 1


async def test_the_send_span_continues_the_stored_trace_and_travels_in_the_headers(
    db: Any,
    fake_outbox_store: Any,
    kafka_producer: FakeKafkaProducer,
    broker: FakeBroker,
    make_event: MakeEvent,
    spans: Spans,
) -> None:
    provider, exporter = spans
    with provider.get_tracer("t").start_as_current_span("request") as request:
        stored = capture_trace_headers()
    event = make_event()
    db.outbox.append(_pending(1, event, **stored))

    await _relay(db, fake_outbox_store, kafka_producer, spans).publish_pending()

    (send,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert send.name == f"send {TOPIC}"
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id
    assert send.context is not None
    assert send.context.trace_id == request.get_span_context().trace_id
    assert send.attributes is not None
    assert send.attributes["messaging.message.id"] == event.meta.event_id
    assert send.attributes["messaging.destination.name"] == TOPIC
    assert event.meta.subject not in str(dict(send.attributes))
    # The record carries the send span's context, so consumers hang off the send.
    (record,) = broker.records(TOPIC)
    headers = {"traceparent": record.header("traceparent") or ""}
    carried = trace.get_current_span(context_from_headers(headers)).get_span_context()
    assert carried.span_id == send.context.span_id


async def test_a_failed_send_marks_its_span(
    db: Any,
    fake_outbox_store: Any,
    kafka_producer: FakeKafkaProducer,
    make_event: MakeEvent,
    spans: Spans,
) -> None:
    _, exporter = spans
    db.outbox.append(_pending(1, make_event()))
    kafka_producer.fail_next.append(KafkaError._MSG_TIMED_OUT)
    await _relay(db, fake_outbox_store, kafka_producer, spans).publish_pending()
    (send,) = exporter.get_finished_spans()
    assert send.status.status_code is StatusCode.ERROR
    assert send.attributes is not None
    assert send.attributes["error.type"] == "_MSG_TIMED_OUT"


async def test_run_publishes_on_wake_without_waiting_for_the_poll_interval(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer, make_event: MakeEvent
) -> None:
    relay = _relay(db, fake_outbox_store, kafka_producer, poll_interval_seconds=60)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: fake_outbox_store.claims == 1)  # first pass found nothing; now idle

    db.outbox.append(_pending(1, make_event()))
    relay.wake()
    await eventually(lambda: db.published == {1}, within=1.0)

    relay.stop()
    await asyncio.wait_for(task, timeout=1.0)


async def test_wake_from_another_thread(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer, make_event: MakeEvent
) -> None:
    relay = _relay(db, fake_outbox_store, kafka_producer, poll_interval_seconds=60)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: fake_outbox_store.claims == 1)
    db.outbox.append(_pending(1, make_event()))
    thread = threading.Thread(target=relay.wake)
    thread.start()
    thread.join()
    await eventually(lambda: db.published == {1}, within=1.0)
    relay.stop()
    await asyncio.wait_for(task, timeout=1.0)


async def test_run_drains_a_backlog_batch_after_batch(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer, make_event: MakeEvent
) -> None:
    db.outbox.extend(_pending(i, make_event()) for i in range(1, 6))
    relay = _relay(db, fake_outbox_store, kafka_producer, batch_size=2, poll_interval_seconds=60)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: db.published == {1, 2, 3, 4, 5}, within=1.0)
    relay.stop()
    await asyncio.wait_for(task, timeout=1.0)


async def test_run_rides_out_a_database_outage(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer, make_event: MakeEvent
) -> None:
    db.outbox.append(_pending(1, make_event()))
    db.outages = 3
    relay = _relay(
        db,
        fake_outbox_store,
        kafka_producer,
        initial_backoff_seconds=0.01,
        poll_interval_seconds=60,
    )
    task = asyncio.create_task(relay.run())
    await eventually(lambda: db.published == {1})
    assert db.outages == 0
    relay.stop()
    await asyncio.wait_for(task, timeout=1.0)


async def test_run_retries_unacknowledged_rows_after_a_backoff(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer, make_event: MakeEvent
) -> None:
    db.outbox.append(_pending(1, make_event()))
    kafka_producer.fail_next.extend([KafkaError._TRANSPORT, KafkaError._TRANSPORT])
    relay = _relay(
        db,
        fake_outbox_store,
        kafka_producer,
        initial_backoff_seconds=0.01,
        poll_interval_seconds=60,
    )
    task = asyncio.create_task(relay.run())
    await eventually(lambda: db.published == {1})
    relay.stop()
    await asyncio.wait_for(task, timeout=1.0)


async def test_stop_before_run_returns_at_once(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer
) -> None:
    relay = _relay(db, fake_outbox_store, kafka_producer)
    relay.stop()
    await asyncio.wait_for(relay.run(), timeout=1.0)
    assert fake_outbox_store.claims == 0


def test_batch_size_must_be_positive(
    db: Any, fake_outbox_store: Any, kafka_producer: FakeKafkaProducer
) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        _relay(db, fake_outbox_store, kafka_producer, batch_size=0)
