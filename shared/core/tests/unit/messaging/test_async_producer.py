from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from xinyu_core.messaging import AsyncProducer, OutgoingRecord
from xinyu_core.messaging.producer import NO_REPORT
from xinyu_core.messaging.testing import FakeBroker, FakeKafkaProducer

TOPIC = "platform.test.scratch.v1"


def _records(count: int) -> list[OutgoingRecord]:
    return [
        OutgoingRecord(TOPIC, key=b"k", value=f"v{i}".encode(), headers=[("h", b"1")])
        for i in range(count)
    ]


async def test_reports_every_record_in_order(
    broker: FakeBroker, kafka_producer: FakeKafkaProducer
) -> None:
    reports = await AsyncProducer(kafka_producer).send_all(_records(3))
    assert [r.delivered for r in reports] == [True, True, True]
    assert [r.offset for r in reports] == [0, 1, 2]
    assert [r.record.value for r in reports] == [b"v0", b"v1", b"v2"]
    assert [record.value() for record in broker.records(TOPIC)] == [b"v0", b"v1", b"v2"]
    assert broker.records(TOPIC)[0].headers() == [("h", b"1")]


async def test_waits_for_reports_off_the_event_loop(kafka_producer: FakeKafkaProducer) -> None:
    loop_thread = threading.get_ident()
    flushed_in: list[int] = []
    flush = kafka_producer.flush

    def recording_flush(timeout: float = -1) -> int:
        flushed_in.append(threading.get_ident())
        return flush(timeout)

    kafka_producer.flush = recording_flush  # type: ignore[method-assign]
    await AsyncProducer(kafka_producer).send(_records(1)[0])
    assert flushed_in
    assert loop_thread not in flushed_in


async def test_a_refused_record_is_reported_not_raised(kafka_producer: FakeKafkaProducer) -> None:
    kafka_producer.fail_next.append(KafkaError._MSG_TIMED_OUT)
    reports = await AsyncProducer(kafka_producer).send_all(_records(2))
    assert reports[0].error == "_MSG_TIMED_OUT"
    assert not reports[0].delivered
    assert reports[1].delivered


async def test_nothing_to_send_sends_nothing(kafka_producer: FakeKafkaProducer) -> None:
    assert await AsyncProducer(kafka_producer).send_all([]) == []
    assert kafka_producer.flush_calls == 0


class _FullQueueOnce(FakeKafkaProducer):
    """Raises BufferError on the first produce, as librdkafka does when its queue is full."""

    full = True
    polls = 0

    def produce(self, *args: Any, **kwargs: Any) -> None:
        if self.full:
            self.full = False
            raise BufferError("queue full")
        super().produce(*args, **kwargs)

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return super().poll(timeout)


async def test_a_full_local_queue_is_drained_then_retried(broker: FakeBroker) -> None:
    producer = _FullQueueOnce(broker)
    report = await AsyncProducer(producer).send(_records(1)[0])
    assert report.delivered
    assert producer.polls == 1


class _RefusesAtProduce(FakeKafkaProducer):
    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))


async def test_a_record_refused_at_produce_is_reported(broker: FakeBroker) -> None:
    report = await AsyncProducer(_RefusesAtProduce(broker)).send(_records(1)[0])
    assert report.error == "MSG_SIZE_TOO_LARGE"


class _NeverReports(FakeKafkaProducer):
    def flush(self, timeout: float = -1) -> int:
        return 1  # timed out with the record still queued


async def test_no_report_within_the_timeout_counts_as_a_failure(broker: FakeBroker) -> None:
    report = await AsyncProducer(_NeverReports(broker), flush_timeout_seconds=0.01).send(
        _records(1)[0]
    )
    assert report.error == NO_REPORT


async def test_close_flushes(kafka_producer: FakeKafkaProducer) -> None:
    await AsyncProducer(kafka_producer).close()
    assert kafka_producer.flush_calls == 1
