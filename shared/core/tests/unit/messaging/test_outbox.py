from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Insert, MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from xinyu.events.v1 import identity_pb2
from xinyu_core.db import new_metadata
from xinyu_core.messaging import InvalidMeta, InvalidTopic, OutboxWriter, outbox_table
from xinyu_core.messaging.outbox import PostgresOutbox

TOPIC = "identity.student.enrolled.v1"
MakeEvent = Callable[..., identity_pb2.StudentEnrolled]


def _ddl(metadata: MetaData) -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements += [str(CreateIndex(ix).compile(dialect=dialect)) for ix in table.indexes]
    return "\n".join(statements)


def test_outbox_table_ddl() -> None:
    metadata = new_metadata()
    outbox_table(metadata)
    ddl = " ".join(_ddl(metadata).split())
    assert "id BIGSERIAL NOT NULL" in ddl
    assert "event_id UUID NOT NULL" in ddl
    assert "topic TEXT NOT NULL" in ddl
    assert "key TEXT NOT NULL" in ddl
    assert "payload BYTEA NOT NULL" in ddl
    assert "headers JSONB DEFAULT '{}'::jsonb NOT NULL" in ddl
    assert "created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL" in ddl
    assert "published_at TIMESTAMP WITH TIME ZONE," in ddl
    assert "CONSTRAINT pk_outbox PRIMARY KEY (id)" in ddl
    assert "CONSTRAINT uq_outbox_event_id UNIQUE (event_id)" in ddl
    assert "CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL" in ddl


def test_outbox_table_name_and_schema_are_the_services_choice() -> None:
    table = outbox_table(MetaData(), name="events_out", schema="scratch")
    assert table.fullname == "scratch.events_out"


def test_claim_takes_unpublished_rows_in_order_and_skips_locked_ones() -> None:
    store = PostgresOutbox(outbox_table(MetaData()))
    sql = " ".join(
        str(store.claim_statement(50).compile(dialect=postgresql.dialect())).split()  # type: ignore[no-untyped-call]
    )
    assert "WHERE outbox.published_at IS NULL" in sql
    assert "ORDER BY outbox.id" in sql
    assert "LIMIT %(param_1)s" in sql
    assert sql.endswith("FOR UPDATE SKIP LOCKED")


# --- OutboxWriter -------------------------------------------------------------------------


def _inserted_values(session: Any) -> dict[str, Any]:
    (statement,) = session.executed
    assert isinstance(statement, Insert)
    return dict(statement.compile().params)


async def test_writer_stores_the_event_in_the_callers_session(
    db: Any, make_event: MakeEvent, spans: tuple[TracerProvider, Any]
) -> None:
    provider, _ = spans
    writer = OutboxWriter(outbox_table(MetaData()))
    event = make_event()
    async with db.begin() as session:
        with provider.get_tracer("t").start_as_current_span("request") as request:
            event_id = await writer.add(session, TOPIC, event)
        values = _inserted_values(session)
    context = request.get_span_context()
    traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert event_id == uuid.UUID(event.meta.event_id)
    assert values["event_id"] == event_id
    assert values["topic"] == TOPIC
    assert values["key"] == event.meta.subject
    assert identity_pb2.StudentEnrolled.FromString(values["payload"]) == event
    assert values["headers"] == {
        "traceparent": traceparent,
        "content-type": "application/x-protobuf",
        "x-event-id": str(event_id),
        "x-payload-type": "xinyu.events.v1.StudentEnrolled",
    }


async def test_a_row_for_a_drivers_own_connection_is_the_row_add_stores(
    db: Any, make_event: MakeEvent
) -> None:
    woken: list[bool] = []
    writer = OutboxWriter(outbox_table(MetaData()), on_commit=lambda: woken.append(True))
    event = make_event()
    row = writer.row(TOPIC, event)
    async with db.begin() as session:
        await writer.add(session, TOPIC, event)
        stored = _inserted_values(session)
    assert row == stored
    with pytest.raises(InvalidTopic):
        writer.row("not a topic", event)
    # The caller that wrote the row itself says when it committed; the relay is woken then.
    woken.clear()
    writer.committed()
    assert woken == [True]


async def test_writer_without_a_trace_stores_no_trace_headers(
    db: Any, make_event: MakeEvent
) -> None:
    async with db.begin() as session:
        await OutboxWriter(outbox_table(MetaData())).add(session, TOPIC, make_event())
        headers = _inserted_values(session)["headers"]
    assert "traceparent" not in headers


async def test_writer_refuses_what_must_not_reach_a_topic(db: Any, make_event: MakeEvent) -> None:
    writer = OutboxWriter(outbox_table(MetaData()))
    async with db.begin() as session:
        with pytest.raises(InvalidTopic):
            await writer.add(session, "students", make_event())
        unstamped = identity_pb2.StudentEnrolled(student_id=str(uuid.uuid4()))
        with pytest.raises(InvalidMeta):
            await writer.add(session, TOPIC, unstamped)
        assert session.executed == []


async def test_writer_insists_on_the_callers_transaction(db: Any, make_event: MakeEvent) -> None:
    async with db.begin() as session:
        session._in_transaction = False
        with pytest.raises(RuntimeError, match="transaction"):
            await OutboxWriter(outbox_table(MetaData())).add(session, TOPIC, make_event())


async def test_writer_wakes_the_relay_once_after_commit(db: Any, make_event: MakeEvent) -> None:
    wakes: list[str] = []
    writer = OutboxWriter(outbox_table(MetaData()), on_commit=lambda: wakes.append("wake"))
    async with db.begin() as session:
        await writer.add(session, TOPIC, make_event())
        await writer.add(session, TOPIC, make_event())
        assert wakes == []  # not before the commit: the relay would find nothing yet
    assert wakes == ["wake"]


async def test_writer_does_not_wake_anyone_for_a_rolled_back_event(
    db: Any, make_event: MakeEvent
) -> None:
    wakes: list[str] = []
    writer = OutboxWriter(outbox_table(MetaData()), on_commit=lambda: wakes.append("wake"))

    async def change_that_fails() -> None:
        async with db.begin() as session:
            await writer.add(session, TOPIC, make_event())
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await change_that_fails()
    assert wakes == []
    assert db.rollbacks == 1
