"""Fakes for the database side of the messaging layer: transactions, an inbox and an outbox.

The fake session stages every write and applies it only when its transaction commits, so the
tests can tell "stored in the same transaction" from "stored at all". The Kafka side uses the
in-memory broker in ``xinyu_core.messaging.testing``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from xinyu.events.v1 import identity_pb2
from xinyu_core.messaging import stamp
from xinyu_core.messaging.outbox import PendingEvent
from xinyu_core.messaging.testing import FakeBroker, FakeKafkaConsumer, FakeKafkaProducer


class FakeSession:
    """Stands in for AsyncSession: writes are staged and applied by a commit."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.staged: list[Callable[[], None]] = []
        self.executed: list[Any] = []
        # A bare SQLAlchemy Session, only so after_commit listeners can be attached and fired.
        self.sync_session = Session()
        self.info: dict[str, Any] = self.sync_session.info
        self._in_transaction = True

    def in_transaction(self) -> bool:
        return self._in_transaction

    async def execute(self, statement: Any) -> Any:
        self.executed.append(statement)
        return _Result([])

    def apply(self) -> None:
        for change in self.staged:
            change()
        self._in_transaction = False
        self.sync_session.begin()
        self.sync_session.commit()


@dataclass
class _Result:
    rows: list[Any]

    def first(self) -> Any:
        return self.rows[0] if self.rows else None


@dataclass
class FakeDatabase:
    """Committed state plus the knobs tests turn: outages and an event log for ordering."""

    inbox: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    effects: list[Any] = field(default_factory=list)
    outbox: list[PendingEvent] = field(default_factory=list)
    published: set[int] = field(default_factory=set)
    commits: int = 0
    rollbacks: int = 0
    # begin() raises a connection error while this is > 0 (and counts down).
    outages: int = 0
    timeline: list[str] = field(default_factory=list)

    def begin(self) -> AbstractAsyncContextManager[FakeSession]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[FakeSession]:
        if self.outages > 0:
            self.outages -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("db down"))
        session = FakeSession(self)
        try:
            yield session
        except BaseException:
            self.rollbacks += 1
            self.timeline.append("db-rollback")
            raise
        session.apply()
        self.commits += 1
        self.timeline.append("db-commit")


class FakeInbox:
    async def claim(
        self, session: FakeSession, consumer_group: str, event_id: uuid.UUID, topic: str
    ) -> bool:
        key = (consumer_group, event_id)
        if key in session.db.inbox:
            return False
        session.staged.append(lambda: session.db.inbox.add(key))
        return True


class FakeBatchInbox(FakeInbox):
    def __init__(self) -> None:
        self.batches: list[int] = []

    async def claim_many(
        self, session: FakeSession, consumer_group: str, events: Sequence[tuple[uuid.UUID, str]]
    ) -> set[uuid.UUID]:
        self.batches.append(len(events))
        new = {
            event_id for event_id, _ in events if (consumer_group, event_id) not in session.db.inbox
        }
        session.staged.append(lambda: session.db.inbox.update((consumer_group, e) for e in new))
        return set(new)


class FakeOutboxStore:
    """The relay's store over ``FakeDatabase.outbox``; marks apply only on commit."""

    def __init__(self) -> None:
        self.claims = 0

    async def claim(self, session: FakeSession, limit: int) -> list[PendingEvent]:
        self.claims += 1
        db = session.db
        return [event for event in db.outbox if event.id not in db.published][:limit]

    async def mark_published(self, session: FakeSession, ids: Sequence[int]) -> None:
        marked = list(ids)
        session.staged.append(lambda: session.db.published.update(marked))


def student_enrolled(
    subject: str | None = None, event_id: uuid.UUID | None = None
) -> identity_pb2.StudentEnrolled:
    subject = subject or str(uuid.uuid4())
    message = identity_pb2.StudentEnrolled(
        student_id=subject, school_code="3607020001", county_code="360702"
    )
    message.enrolled_at.FromDatetime(datetime(2025, 9, 1, tzinfo=UTC))
    stamp(message, "identity", subject, event_id=event_id)
    return message


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker(partitions=3)


@pytest.fixture
def kafka_producer(broker: FakeBroker) -> FakeKafkaProducer:
    return FakeKafkaProducer(broker)


@pytest.fixture
def kafka_consumer(broker: FakeBroker) -> FakeKafkaConsumer:
    return FakeKafkaConsumer(broker, group="archives")


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def make_event() -> Callable[..., identity_pb2.StudentEnrolled]:
    return student_enrolled


@pytest.fixture
def fake_inbox() -> FakeInbox:
    return FakeInbox()


@pytest.fixture
def fake_batch_inbox() -> FakeBatchInbox:
    return FakeBatchInbox()


@pytest.fixture
def fake_outbox_store() -> FakeOutboxStore:
    return FakeOutboxStore()
