"""The two recorders with fakes: where each record goes, and what happens when it cannot."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from xinyu.events.v1 import audit_pb2
from xinyu_core.audit import (
    ANONYMOUS,
    AUDIT_TOPIC,
    NIL_SUBJECT,
    KafkaAuditRecorder,
    OutboxAuditRecorder,
)
from xinyu_core.errors import Unavailable
from xinyu_core.messaging import AsyncProducer
from xinyu_core.messaging.testing import FakeBroker, FakeKafkaProducer
from xinyu_core.testing import principal

FAKE_NAME = "王小明"
FAKE_ID_NUMBER = "36070220150101123X"
STUDENT = "6f1d2b9e-3c4a-4e8b-9a0d-1b2c3d4e5f60"
SUBJECT = "0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21"
ACTION = "/xinyu.archives.v1.ArchivesService/GetArchive"


@dataclass
class FakeTransaction:
    committed: bool = False


@dataclass
class FakeSessions:
    """``begin()`` yields a stand-in session; ``down`` makes it fail like a dead database."""

    down: bool = False
    transactions: list[FakeTransaction] = field(default_factory=list)

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._begin()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncSession]:
        if self.down:
            raise ConnectionRefusedError("database down")
        transaction = FakeTransaction()
        self.transactions.append(transaction)
        yield cast(AsyncSession, transaction)
        transaction.committed = True


@dataclass
class FakeWriter:
    added: list[tuple[object, str, Message]] = field(default_factory=list)
    fail: bool = False

    async def add(self, session: AsyncSession, topic: str, message: Message) -> uuid.UUID:
        if self.fail:
            raise RuntimeError(f"insert failed for {FAKE_NAME}")  # messages may quote data
        self.added.append((session, topic, message))
        return uuid.uuid4()


def teacher() -> Any:
    return principal("psych_teacher", org_unit="3607020001", subject=SUBJECT, username=FAKE_NAME)


def decoded(message: Message) -> audit_pb2.AccessAudited:
    assert isinstance(message, audit_pb2.AccessAudited)
    return message


async def test_outbox_denial_commits_in_a_short_transaction_of_its_own() -> None:
    sessions, writer = FakeSessions(), FakeWriter()
    recorder = OutboxAuditRecorder("archives", writer, sessions)
    await recorder.denied(teacher(), ACTION, "student", STUDENT, "permission-denied")
    [(session, topic, message)] = writer.added
    assert topic == AUDIT_TOPIC
    assert session is sessions.transactions[0]
    assert sessions.transactions[0].committed
    event = decoded(message)
    assert event.outcome == audit_pb2.ACCESS_OUTCOME_DENIED
    assert (event.actor_subject, event.resource_id) == (SUBJECT, STUDENT)


async def test_outbox_sensitive_read_joins_the_callers_transaction() -> None:
    sessions, writer = FakeSessions(), FakeWriter()
    recorder = OutboxAuditRecorder("screening", writer, sessions)
    reading = cast(AsyncSession, object())
    await recorder.sensitive_read(reading, teacher(), ACTION, "student", STUDENT)
    [(session, _, message)] = writer.added
    assert session is reading
    assert sessions.transactions == []  # no transaction of its own
    event = decoded(message)
    assert event.outcome == audit_pb2.ACCESS_OUTCOME_ALLOWED
    assert event.reason == "sensitive-read"


async def test_outbox_sensitive_read_fails_when_its_record_cannot_be_stored() -> None:
    recorder = OutboxAuditRecorder("screening", FakeWriter(fail=True), FakeSessions())
    with pytest.raises(RuntimeError):
        await recorder.sensitive_read(
            cast(AsyncSession, object()), teacher(), ACTION, "student", STUDENT
        )


@pytest.mark.parametrize("broken", ["database", "writer"])
async def test_a_lost_denial_is_logged_at_error_without_personal_data(
    broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = OutboxAuditRecorder(
        "archives",
        FakeWriter(fail=broken == "writer"),
        FakeSessions(down=broken == "database"),
    )
    with caplog.at_level(logging.ERROR, logger="xinyu.audit"):
        await recorder.denied(teacher(), ACTION, "student", FAKE_ID_NUMBER, "permission-denied")
    [entry] = caplog.records
    assert entry.levelno == logging.ERROR
    assert entry.__dict__["actor_subject"] == SUBJECT
    assert entry.__dict__["resource_id"] == ""
    rendered = repr(entry.__dict__)
    assert FAKE_NAME not in rendered
    assert FAKE_ID_NUMBER not in rendered


def kafka_recorder(
    broker: FakeBroker, kafka: FakeKafkaProducer | None = None, timeout: float = 2.0
) -> KafkaAuditRecorder:
    producer = AsyncProducer(kafka or FakeKafkaProducer(broker), flush_timeout_seconds=1.0)
    return KafkaAuditRecorder("gateway", producer, send_timeout_seconds=timeout)


async def test_kafka_denial_is_on_the_audit_topic_keyed_by_the_actor_when_it_returns() -> None:
    broker = FakeBroker()
    await kafka_recorder(broker).denied(
        teacher(), "GET /v1/students/{student_id}/archive", "student", STUDENT, "role-not-allowed"
    )
    [record] = broker.records(AUDIT_TOPIC)
    assert record.key() == SUBJECT.encode()
    event = audit_pb2.AccessAudited.FromString(record.value() or b"")
    assert event.meta.subject == SUBJECT
    assert record.header("x-event-id") == event.meta.event_id
    assert record.header("x-payload-type") == "xinyu.events.v1.AccessAudited"
    assert event.action == "GET /v1/students/{student_id}/archive"


async def test_kafka_unauthenticated_denial_is_keyed_by_the_nil_subject() -> None:
    broker = FakeBroker()
    await kafka_recorder(broker).denied(ANONYMOUS, "GET /v1/x", "", "", "unauthenticated")
    [record] = broker.records(AUDIT_TOPIC)
    assert record.key() == NIL_SUBJECT.encode()


async def test_kafka_denial_that_the_broker_refuses_is_logged_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = FakeBroker()
    kafka = FakeKafkaProducer(broker, failing_topics={AUDIT_TOPIC: KafkaError._MSG_TIMED_OUT})
    with caplog.at_level(logging.ERROR, logger="xinyu.audit"):
        await kafka_recorder(broker, kafka).denied(
            teacher(), "GET /v1/x", "student", STUDENT, "role-not-allowed"
        )
    [entry] = caplog.records
    assert entry.__dict__["kafka_error"] == "_MSG_TIMED_OUT"
    assert broker.records(AUDIT_TOPIC) == []


class StuckProducer(FakeKafkaProducer):
    """A broker that never answers: flush blocks past the recorder's timeout."""

    def flush(self, timeout: float = -1) -> int:
        time.sleep(0.5)
        return 1


async def test_kafka_denial_gives_up_after_its_timeout(caplog: pytest.LogCaptureFixture) -> None:
    broker = FakeBroker()
    recorder = kafka_recorder(broker, StuckProducer(broker), timeout=0.05)
    started = asyncio.get_running_loop().time()
    with caplog.at_level(logging.ERROR, logger="xinyu.audit"):
        await recorder.denied(teacher(), "GET /v1/x", "", "", "role-not-allowed")
    assert asyncio.get_running_loop().time() - started < 0.4
    assert caplog.records[0].__dict__["kafka_error"] == "_AUDIT_SEND_TIMEOUT"


async def test_kafka_sensitive_read_is_refused_when_it_cannot_be_recorded() -> None:
    broker = FakeBroker()
    kafka = FakeKafkaProducer(broker, failing_topics={AUDIT_TOPIC: KafkaError._TRANSPORT})
    with pytest.raises(Unavailable):
        await kafka_recorder(broker, kafka).sensitive_read(
            cast(AsyncSession, object()), teacher(), ACTION, "student", STUDENT
        )


async def test_kafka_sensitive_read_is_sent_before_it_returns() -> None:
    broker = FakeBroker()
    await kafka_recorder(broker).sensitive_read(
        cast(AsyncSession, object()), teacher(), ACTION, "student", STUDENT
    )
    [record] = broker.records(AUDIT_TOPIC)
    event = audit_pb2.AccessAudited.FromString(record.value() or b"")
    assert event.outcome == audit_pb2.ACCESS_OUTCOME_ALLOWED
