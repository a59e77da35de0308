"""Real PostgreSQL and Kafka for the messaging integration tests (``infra/local/stack up``).

Each test gets its own throwaway schema (outbox, inbox and an ``effects`` table the handlers
write to), dropped afterwards, and its own consumer group whose offsets start at the current end
of the scratch topic, so earlier runs' records never reach it.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, Uuid, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.messaging import (
    AsyncProducer,
    build_producer,
    consumer_config,
    inbox_table,
    outbox_table,
)
from xinyu_core.settings import KafkaSettings

DATABASE_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
SCRATCH = "platform.test.scratch.v1"
SCRATCH_DLQ = SCRATCH + ".dlq"
CLIENT_ID = "tests-messaging"

KAFKA = KafkaSettings(
    bootstrap_servers="127.0.0.1:9092",
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    username="tests",
    password=SecretStr("dev-kafka-tests"),
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _local_stack() -> None:
    # Fail rather than skip: `-m integration` asked for real servers, and a silent skip would
    # let a broken set-up pass as green.
    missing = [
        name
        for name, port in (("PostgreSQL", 5433), ("Kafka", 9092))
        if not _reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not reachable: run `infra/local/stack up` first")


@dataclass
class Tables:
    schema: str
    outbox: Table
    inbox: Table
    effects: Table


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = make_engine(DATABASE_URL, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
async def tables(engine: AsyncEngine) -> AsyncIterator[Tables]:
    schema = f"tests_messaging_{uuid.uuid4().hex[:12]}"
    metadata = MetaData(schema=schema)
    found = Tables(
        schema=schema,
        outbox=outbox_table(metadata, schema=schema),
        inbox=inbox_table(metadata, schema=schema),
        # What a handler "does": one row per applied event, deliberately without a unique key,
        # so a handler that ran twice would show as two rows.
        effects=Table(
            "effects",
            metadata,
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("event_id", Uuid, nullable=False),
            Column("school_code", Text, nullable=False),
            schema=schema,
        ),
    )
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(metadata.create_all)
    try:
        yield found
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def kafka() -> KafkaSettings:
    return KAFKA


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


@pytest.fixture
async def producer() -> AsyncIterator[AsyncProducer]:
    producer = AsyncProducer(build_producer(KAFKA, CLIENT_ID))
    yield producer
    await producer.close()


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


class KafkaProbe:
    """Test-side looks at the broker: topic ends, fresh groups, reading a range back."""

    def __init__(self) -> None:
        self._client = Consumer(consumer_config(KAFKA, CLIENT_ID, self.new_group()))

    @staticmethod
    def new_group() -> str:
        return f"tests-messaging-{uuid.uuid4().hex[:12]}"

    def close(self) -> None:
        self._client.close()

    def partitions(self, topic: str) -> list[int]:
        metadata = self._client.list_topics(topic, timeout=10)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return []
        return sorted(found.partitions)

    def ends(self, topic: str) -> dict[int, int]:
        """Partition → high watermark (the offset the next record will get)."""
        return {
            partition: self._client.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )[1]
            for partition in self.partitions(topic)
        }

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """Partition → offset ``group`` has committed (negative when it has none)."""
        client = Consumer(consumer_config(KAFKA, CLIENT_ID, group))
        try:
            asked = [TopicPartition(topic, p) for p in self.partitions(topic)]
            return {tp.partition: tp.offset for tp in client.committed(asked, timeout=10)}
        finally:
            client.close()

    def start_group_at_end(self, group: str, topic: str) -> None:
        """Commit the topic's current end for ``group``, so it reads only what comes next."""
        client = Consumer(consumer_config(KAFKA, CLIENT_ID, group))
        try:
            offsets = [TopicPartition(topic, p, end) for p, end in self.ends(topic).items()]
            client.commit(offsets=offsets, asynchronous=False)
        finally:
            client.close()

    def read(
        self,
        topic: str,
        since: dict[int, int],
        until: Callable[[list[Consumed]], bool],
        timeout: float = 20.0,
    ) -> list[Consumed]:
        """Records on ``topic`` from offsets ``since`` until ``until(records)`` or timeout."""
        reader = Consumer(consumer_config(KAFKA, CLIENT_ID, self.new_group()))
        reader.assign([TopicPartition(topic, p, offset) for p, offset in since.items()])
        found: list[Consumed] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not until(found):
                message = reader.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(error.name())
                if error is None:
                    found.append(_consumed(message))
            return found
        finally:
            reader.close()


def _consumed(message: Any) -> Consumed:
    headers = {
        name: value.decode() if isinstance(value, bytes) else str(value)
        for name, value in (message.headers() or [])
        if value is not None
    }
    return Consumed(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        headers=headers,
    )


@pytest.fixture
def probe() -> Iterator[KafkaProbe]:
    probe = KafkaProbe()
    yield probe
    probe.close()


async def wait_for_rows(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    count: int,
    within: float = 30.0,
    **where: Any,
) -> int:
    """Poll ``table`` until it has at least ``count`` rows matching ``where``; return the count."""
    found = 0
    for _ in range(int(within / 0.1)):
        async with sessions() as session:
            query = select(func.count()).select_from(table)
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            found = int(await session.scalar(query) or 0)
        if found >= count:
            return found
        await asyncio.sleep(0.1)
    return found


@pytest.fixture
def rows() -> Callable[..., Any]:
    return wait_for_rows
