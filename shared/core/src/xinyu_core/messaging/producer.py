"""The platform's Kafka producer: explicit, idempotent configuration and an asyncio front.

librdkafka's producer is thread-safe and ``produce()`` only enqueues, so it is called on the event
loop; the blocking part — waiting for the broker's delivery reports — runs in a worker thread
(``flush``), and each report settles an asyncio future through ``call_soon_threadsafe``. One
producer per process is enough: the outbox relay and the consumers' dead-letter path share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from xinyu_core.messaging._connection import connection_config
from xinyu_core.settings import KafkaSettings

logger = logging.getLogger(__name__)

# Every report arrives within delivery.timeout.ms (success or final failure), so waiting that long
# plus a margin cannot give up on a message librdkafka is still working on.
DELIVERY_TIMEOUT_MS = 30_000
REQUEST_TIMEOUT_MS = 10_000
FLUSH_MARGIN_SECONDS = 5.0

Headers = list[tuple[str, str | bytes | None]]
DeliveryCallback = Callable[[Any, Any], None]


def producer_config(kafka: KafkaSettings, client_id: str) -> dict[str, Any]:
    """Every producer setting, stated rather than inherited from librdkafka's defaults."""
    return {
        **connection_config(kafka, client_id),
        # Durability: the leader waits for all in-sync replicas, and the broker dedupes retries by
        # producer id and sequence number, so a retry can neither lose nor double a record.
        "acks": "all",
        "enable.idempotence": True,
        # 5 is the most idempotence allows while still keeping per-partition order on retries.
        "max.in.flight.requests.per.connection": 5,
        # Retries are bounded by time (delivery.timeout.ms), not by count.
        "retries": 2_147_483_647,
        "retry.backoff.ms": 100,
        "retry.backoff.max.ms": 1_000,
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
        "request.timeout.ms": REQUEST_TIMEOUT_MS,
        # Deliberately absent: enable.gapless.guarantee. Its default (false) is what we want — a
        # gap is repaired by the outbox re-sending the unpublished row — but naming the
        # experimental property at all makes librdkafka print a warning on every start.
        # Batching: a few milliseconds of latency buys far fewer requests under load.
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "message.max.bytes": 1_000_000,
        "queue.buffering.max.messages": 100_000,
        "queue.buffering.max.kbytes": 65_536,
        # Same key → same partition as the Java client (Kafka Streams, Connect, partner tooling);
        # librdkafka's own default (crc32) would place keys differently.
        "partitioner": "murmur2_random",
    }


def build_producer(kafka: KafkaSettings, client_id: str) -> Producer:
    """A librdkafka producer; broker-level errors are logged by name, never with payloads."""
    config = producer_config(kafka, client_id)
    config["error_cb"] = _log_client_error
    return Producer(config)


def _log_client_error(error: KafkaError) -> None:
    level = logging.CRITICAL if error.fatal() else logging.WARNING
    logger.log(
        level,
        "kafka client error",
        extra={"kafka_error": error.name(), "kafka_error_fatal": error.fatal()},
    )


class KafkaProducerLike(Protocol):
    """The part of ``confluent_kafka.Producer`` the platform uses (fakes implement it too)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        *,
        on_delivery: DeliveryCallback | None = ...,
        headers: Headers | None = ...,
    ) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryReport:
    """What the broker said about one record. ``error`` is a librdkafka error name, or None."""

    record: OutgoingRecord
    error: str | None = None
    partition: int | None = None
    offset: int | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


NO_REPORT = "_NO_DELIVERY_REPORT"


class AsyncProducer:
    """Sends records and waits for their delivery reports without blocking the event loop."""

    def __init__(
        self,
        producer: KafkaProducerLike,
        *,
        flush_timeout_seconds: float = DELIVERY_TIMEOUT_MS / 1000 + FLUSH_MARGIN_SECONDS,
    ) -> None:
        self._producer = producer
        self._flush_timeout = flush_timeout_seconds

    async def send_all(self, records: Sequence[OutgoingRecord]) -> list[DeliveryReport]:
        """Produce ``records`` in order and return one report each, in the same order.

        Never raises for a record the broker refused; the report says so, and the caller decides
        (the relay leaves the row unpublished, the consumer retries the dead-lettering).
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[DeliveryReport]] = []
        for record in records:
            future: asyncio.Future[DeliveryReport] = loop.create_future()
            futures.append(future)
            await self._produce(record, _settle_from_thread(loop, future, record))
        if not futures:
            return []
        await asyncio.to_thread(self._producer.flush, self._flush_timeout)
        # flush() has returned, so every report it served is already queued on this loop; the
        # short wait only covers reports served by a concurrent flush in another thread.
        await asyncio.wait(futures, timeout=1.0)
        return [
            future.result() if future.done() else DeliveryReport(record, error=NO_REPORT)
            for future, record in zip(futures, records, strict=True)
        ]

    async def send(self, record: OutgoingRecord) -> DeliveryReport:
        (report,) = await self.send_all([record])
        return report

    async def close(self) -> None:
        """Wait for anything still queued; call once at shutdown."""
        remaining = await asyncio.to_thread(self._producer.flush, self._flush_timeout)
        if remaining:
            logger.warning("producer closed with undelivered records", extra={"count": remaining})

    async def _produce(self, record: OutgoingRecord, on_delivery: DeliveryCallback) -> None:
        while True:
            try:
                self._producer.produce(
                    record.topic,
                    record.value,
                    record.key,
                    on_delivery=on_delivery,
                    headers=list(record.headers),
                )
                return
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                await asyncio.to_thread(self._producer.poll, 0.1)
            except KafkaException as exc:
                # Refused before it reached the queue (e.g. too large): report it like a failure.
                on_delivery(exc.args[0] if exc.args else None, None)
                return


def _settle_from_thread(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[DeliveryReport],
    record: OutgoingRecord,
) -> DeliveryCallback:
    """A delivery callback that may run on librdkafka's polling thread."""

    def on_delivery(error: Any, message: Any) -> None:
        if error is not None:
            name = error.name() if isinstance(error, KafkaError) else str(error)
            report = DeliveryReport(record, error=name or "_UNKNOWN")
        else:
            report = DeliveryReport(record, partition=message.partition(), offset=message.offset())
        # RuntimeError: the loop has closed, so nobody is waiting for this report any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, report)

    return on_delivery


def _settle(future: asyncio.Future[DeliveryReport], report: DeliveryReport) -> None:
    if not future.done():
        future.set_result(report)
