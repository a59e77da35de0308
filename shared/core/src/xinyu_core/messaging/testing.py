"""An in-memory broker for unit tests: fakes of the producer and consumer the chassis uses.

They implement just the ``confluent_kafka`` surface that :class:`AsyncProducer` and
:class:`EventConsumer` call (see ``KafkaProducerLike`` and ``KafkaConsumerLike``), with the
behaviour the guarantees depend on: per-partition logs, committed offsets per group, ``seek`` and
injectable delivery failures. Services use them to unit-test their wiring without a broker.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from xinyu_core.messaging.producer import DeliveryCallback, Headers


class FakeRecord:
    """A consumed (or produced) record, shaped like ``confluent_kafka.Message``."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        error: KafkaError | None = None,
    ) -> None:
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._key = key
        self._value = value
        self._headers = list(headers) if headers else None
        self._error = error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Headers | None:
        return list(self._headers) if self._headers is not None else None

    def error(self) -> KafkaError | None:
        return self._error

    def header(self, name: str) -> str | None:
        """Test convenience: the last value of header ``name`` as text."""
        found: str | None = None
        for header_name, value in self._headers or ():
            if header_name == name and value is not None:
                found = value if isinstance(value, str) else value.decode()
        return found


class FakeBroker:
    """Topics as per-partition lists of records, and committed offsets per consumer group."""

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self._lock = threading.Lock()
        self._logs: dict[str, list[list[FakeRecord]]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}

    def append(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> FakeRecord:
        with self._lock:
            partition = self.partition_for(key)
            log = self._log(topic)[partition]
            record = FakeRecord(topic, partition, len(log), key, value, headers)
            log.append(record)
            return record

    def records(self, topic: str) -> list[FakeRecord]:
        """Everything on ``topic``, partition by partition."""
        with self._lock:
            return [record for log in self._log(topic) for record in log]

    def partition_for(self, key: bytes | None) -> int:
        return zlib.crc32(key or b"") % self.partitions

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        with self._lock:
            return self._committed.get((group, topic, partition))

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self._committed[(group, topic, partition)] = offset

    def record_at(self, topic: str, partition: int, offset: int) -> FakeRecord | None:
        with self._lock:
            log = self._log(topic)[partition]
            return log[offset] if offset < len(log) else None

    def _log(self, topic: str) -> list[list[FakeRecord]]:
        return self._logs.setdefault(topic, [[] for _ in range(self.partitions)])


@dataclass
class _Pending:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    on_delivery: DeliveryCallback | None


@dataclass
class FakeKafkaProducer:
    """Queues on ``produce`` and delivers on ``poll``/``flush``, like librdkafka."""

    broker: FakeBroker
    # topic → librdkafka error code: every record for that topic fails delivery with it.
    failing_topics: dict[str, int] = field(default_factory=dict)
    # Fail only the next N records (any topic) with the given code.
    fail_next: deque[int] = field(default_factory=deque)
    flush_calls: int = 0
    _pending: list[_Pending] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: DeliveryCallback | None = None,
        headers: Headers | None = None,
    ) -> None:
        with self._lock:
            self._pending.append(_Pending(topic, key, value, headers, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        return self._deliver()

    def flush(self, timeout: float = -1) -> int:
        self.flush_calls += 1
        self._deliver()
        return 0

    def _deliver(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for item in pending:
            code = self.failing_topics.get(item.topic)
            if code is None and self.fail_next:
                code = self.fail_next.popleft()
            if code is not None:
                if item.on_delivery:
                    item.on_delivery(KafkaError(code), None)
                continue
            record = self.broker.append(item.topic, item.key, item.value, item.headers)
            if item.on_delivery:
                item.on_delivery(None, record)
        return len(pending)


class FakeKafkaConsumer:
    """Reads assigned partitions from the group's committed offset (or the start)."""

    def __init__(self, broker: FakeBroker, group: str) -> None:
        self.broker = broker
        self.group = group
        self.subscribed: list[str] = []
        self.commits: list[tuple[str, int, int]] = []
        self.seeks: list[tuple[str, int, int]] = []
        self.closed = False
        self.fail_commits = False
        # Returned by poll before any record: e.g. FakeRecord(..., error=KafkaError(...)).
        self.injected: deque[FakeRecord] = deque()
        self._positions: dict[tuple[str, int], int] = {}

    def subscribe(self, topics: list[str], **_: Any) -> None:
        self.subscribed = list(topics)
        for topic in topics:
            for partition in range(self.broker.partitions):
                committed = self.broker.committed(self.group, topic, partition)
                self._positions[(topic, partition)] = committed or 0

    def poll(self, timeout: float = -1) -> FakeRecord | None:
        if self.closed:
            raise RuntimeError("consumer closed")
        if self.injected:
            return self.injected.popleft()
        for (topic, partition), position in self._positions.items():
            record = self.broker.record_at(topic, partition, position)
            if record is not None:
                self._positions[(topic, partition)] = position + 1
                return record
        # Nothing to read: behave like a short blocking poll, without burning a CPU.
        time.sleep(min(max(timeout, 0), 0.01))
        return None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeRecord]:
        """Up to ``num_messages`` records already waiting (like librdkafka's, it returns what it
        has when ``timeout`` is 0)."""
        records: list[FakeRecord] = []
        while len(records) < num_messages:
            record = self.poll(0)
            if record is None:
                break
            records.append(record)
        return records

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))
        self._positions[(partition.topic, partition.partition)] = partition.offset

    def commit(
        self, *, offsets: list[TopicPartition], asynchronous: bool = True
    ) -> list[TopicPartition]:
        if self.fail_commits:
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        for tp in offsets:
            self.commits.append((tp.topic, tp.partition, tp.offset))
            self.broker.commit(self.group, tp.topic, tp.partition, tp.offset)
        return offsets

    def close(self) -> None:
        self.closed = True


async def eventually(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Let the code under test run on this loop until ``condition`` holds; fail after ``within``."""
    step = 0.002
    for _ in range(int(within / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not reached within {within}s")
