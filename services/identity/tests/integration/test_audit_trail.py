"""Refusals travel the real path into identity's audit log: the gateway (direct to Kafka),
archives' gRPC guard (direct to Kafka) and identity's own AuditService (through its outbox and
relay) all end up as chain-linked rows appended by ``identity consume audit``'s consumer,
against the real PostgreSQL, Kafka and Keycloak.

The consumer runs in this process under its own group (``identity.tests-audit-…``, started at
the topic's current end) and appends to a throwaway schema, so neither the migration nor the
service's own table is involved. A fake name and an 18-digit ID number are planted in the
requests; neither may show up in a stored record, a span or a Kafka key.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from archives.bootstrap import build_server_side
from archives.config import ArchivesSettings
from gateway.app import create_app
from gateway.config import GatewaySettings
from identity.audit.chain import GENESIS_HASH
from identity.audit.store import PostgresAuditLog
from identity.audit.tables import audit_log_table
from identity.audit.trail import verify_log
from identity.audit.wiring import AuditConsumer, audit_service, build_audit_consumer
from identity.config import IdentitySettings
from xinyu.archives.v1 import archives_pb2, archives_pb2_grpc
from xinyu.audit.v1 import audit_pb2, audit_pb2_grpc
from xinyu.events.v1 import audit_pb2 as audit_events
from xinyu_core.audit import (
    AUDIT_TOPIC,
    DENIED,
    NIL_SUBJECT,
    OutboxAuditRecorder,
    access_audited,
    audit_record,
)
from xinyu_core.auth import build_token_verifier
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.client import bearer_metadata, open_channel
from xinyu_core.grpc.server import GrpcServer, build_server
from xinyu_core.messaging import (
    AsyncProducer,
    OutboxRelay,
    OutboxWriter,
    PostgresOutbox,
    build_producer,
    consumer_config,
    outbox_table,
)
from xinyu_core.settings import KafkaSettings
from xinyu_core.testing import principal
from xinyu_e2e import cached_token

pytestmark = pytest.mark.integration

FAKE_NAME = "王小明"
FAKE_ID_NUMBER = "36070220150101123X"
PLANTED = (FAKE_NAME, FAKE_ID_NUMBER)
SERVICES_ENV = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "..", "infra", "local", "services.env"
)


def _services_env() -> dict[str, str]:
    values: dict[str, str] = {}
    with open(SERVICES_ENV, encoding="utf-8") as env:
        for line in env:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value
    return values


def subject_of(token: str) -> str:
    """The ``sub`` claim, read without verifying (the services verify; the test only looks)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


@dataclass
class Stack:
    spans: InMemorySpanExporter
    provider: TracerProvider
    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    log: PostgresAuditLog
    outbox: Table
    schema: str
    since: dict[int, int]  # topic end per partition before the test produced anything


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _services_env().items():
        monkeypatch.setenv(key, value)


def topic_ends(kafka: KafkaSettings, group: str) -> dict[int, int]:
    client = Consumer(consumer_config(kafka, "identity-tests", group))
    try:
        found = client.list_topics(AUDIT_TOPIC, timeout=10).topics[AUDIT_TOPIC]
        return {
            partition: client.get_watermark_offsets(
                TopicPartition(AUDIT_TOPIC, partition), timeout=10
            )[1]
            for partition in sorted(found.partitions)
        }
    finally:
        client.close()


def start_group_at(kafka: KafkaSettings, group: str, ends: dict[int, int]) -> None:
    client = Consumer(consumer_config(kafka, "identity-tests", group))
    try:
        offsets = [TopicPartition(AUDIT_TOPIC, p, end) for p, end in ends.items()]
        client.commit(offsets=offsets, asynchronous=False)
    finally:
        client.close()


@pytest.fixture
async def stack(local_env: None) -> AsyncIterator[Stack]:
    settings = IdentitySettings()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=4)
    schema = f"tests_audit_{uuid.uuid4().hex[:12]}"
    metadata = MetaData()
    table = audit_log_table(metadata, schema=schema)
    outbox = outbox_table(metadata, schema=schema)
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(metadata.create_all)
    group = f"identity.tests-audit-{uuid.uuid4().hex[:8]}"
    ends = await asyncio.to_thread(topic_ends, settings.kafka, group)
    await asyncio.to_thread(start_group_at, settings.kafka, group, ends)
    consumer: AuditConsumer = build_audit_consumer(settings, provider, group_id=group, table=table)
    running = asyncio.create_task(consumer.consumer.run())
    try:
        yield Stack(
            spans=exporter,
            provider=provider,
            sessions=make_session_factory(engine),
            engine=engine,
            log=PostgresAuditLog(table),
            outbox=outbox,
            schema=schema,
            since=ends,
        )
    finally:
        consumer.consumer.stop()
        await asyncio.gather(running, return_exceptions=True)
        await consumer.close()
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()
        provider.shutdown()


async def rows(stack: Stack, count: int, within: float = 45.0) -> list[dict[str, Any]]:
    """The log's rows in chain order, once there are at least ``count`` of them."""
    table = stack.log.table
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with stack.sessions() as session:
            result = await session.execute(select(table).order_by(table.c.seq))
            found = [dict(row._mapping) for row in result]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(found)} audit rows after {within}s, expected {count}: {found}")


async def assert_chain(stack: Stack, records: list[dict[str, Any]]) -> None:
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["prev_hash"] == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after["prev_hash"] == before["hash"]
    report = await verify_log(stack.sessions, stack.log)
    assert report.intact
    assert report.checked == len(records)


def keys_on_the_topic(
    kafka: KafkaSettings, since: dict[int, int], event_ids: set[str]
) -> dict[str, bytes]:
    """Event id → Kafka key of the given events, read back from the broker."""
    reader = Consumer(consumer_config(kafka, "identity-tests", f"identity.tests-{uuid.uuid4()}"))
    reader.assign([TopicPartition(AUDIT_TOPIC, p, offset) for p, offset in since.items()])
    keys: dict[str, bytes] = {}
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and not event_ids <= set(keys):
            message = reader.poll(0.5)
            if message is None or message.error() is not None:
                continue
            value: bytes = message.value() or b""
            event = audit_events.AccessAudited.FromString(value)
            assert not any(p.encode() in value for p in PLANTED)
            keys[event.meta.event_id] = message.key() or b""
    finally:
        reader.close()
    return keys


# What FastAPI's instrumentation copies from the request line into the gateway's SERVER span.
# It is not audit data; see test_gateway_spans_do_not_record_the_concrete_url.
URL_ATTRIBUTES = frozenset({"http.target", "http.url", "url.path", "url.full", "url.query"})


def span_texts(stack: Stack, *, except_url: bool = False) -> list[str]:
    """Every span's name, attributes and events as text (optionally without the URL ones)."""
    texts = []
    for span in stack.spans.get_finished_spans():
        attributes = {
            name: value
            for name, value in (span.attributes or {}).items()
            if not (except_url and name in URL_ATTRIBUTES)
        }
        events = [(event.name, dict(event.attributes or {})) for event in span.events]
        texts.append(json.dumps([span.name, attributes, events], default=str, ensure_ascii=False))
    return texts


def assert_nothing_planted(
    stack: Stack, records: list[dict[str, Any]], *, except_url: bool = False
) -> None:
    stored = json.dumps(records, default=str, ensure_ascii=False)
    spans = span_texts(stack, except_url=except_url)
    keys = keys_on_the_topic(
        IdentitySettings().kafka, stack.since, {str(r["event_id"]) for r in records}
    )
    assert len(keys) == len(records)
    for planted in PLANTED:
        assert planted not in stored
        for span in spans:
            assert planted not in span, span
    for key in keys.values():
        assert uuid.UUID(key.decode())  # an opaque subject, nothing else


# --- the gateway -----------------------------------------------------------------------------


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(), stack.provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_gateway_refusals_are_chained_in_the_audit_log(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    police = cached_token("police.zhanggong")
    no_token = await gateway.get(f"/v1/students/{FAKE_ID_NUMBER}/archive")
    wrong_role = await gateway.get(
        f"/v1/students/{FAKE_ID_NUMBER}/archive", headers={"Authorization": f"Bearer {police}"}
    )
    enrol = await gateway.post(
        "/v1/students",
        json={
            "student_number": FAKE_ID_NUMBER,
            "full_name": FAKE_NAME,
            "school_code": "3607020001",
            "county_code": "360702",
        },
        headers={"Authorization": f"Bearer {police}"},
    )
    assert (no_token.status_code, wrong_role.status_code, enrol.status_code) == (401, 403, 403)

    records = await rows(stack, 3)
    assert len(records) == 3
    await assert_chain(stack, records)
    by_action = {(r["action"], str(r["actor_subject"])): r for r in records}
    archive = "GET /v1/students/{student_id}/archive"
    anonymous = by_action[(archive, NIL_SUBJECT)]
    assert (anonymous["reason"], anonymous["outcome"]) == ("unauthenticated", "DENIED")
    assert anonymous["actor_roles"] == []
    refused = by_action[(archive, subject_of(police))]
    assert (refused["reason"], refused["service"]) == ("role-not-allowed", "gateway")
    assert "police_officer" in refused["actor_roles"]
    # The route named a student by something that is not an opaque id: kept as "a student".
    assert (refused["resource_type"], refused["resource_id"]) == ("student", "")
    enrolment = by_action[("POST /v1/students", subject_of(police))]
    assert (enrolment["resource_type"], enrolment["resource_id"]) == ("", "")
    assert_nothing_planted(stack, records, except_url=True)


async def test_gateway_spans_do_not_record_the_concrete_url(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    assert (await gateway.get(f"/v1/students/{FAKE_ID_NUMBER}/archive")).status_code == 401
    for span in span_texts(stack):
        assert FAKE_ID_NUMBER not in span


# --- a service's gRPC guard (archives: no outbox, straight to Kafka) -------------------------


async def test_a_service_refusal_is_chained_in_the_audit_log(stack: Stack, local_env: None) -> None:
    archives = build_server_side(ArchivesSettings(grpc_listen="127.0.0.1:0"), stack.provider)
    assert archives.server is not None
    await archives.server.start()
    channel = open_channel(f"127.0.0.1:{archives.server.port}")
    stub = archives_pb2_grpc.ArchivesServiceStub(channel)
    police = cached_token("police.zhanggong")
    student = str(uuid.uuid4())
    try:
        for student_id, token in ((FAKE_ID_NUMBER, police), (student, police), (student, None)):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetArchive(
                    archives_pb2.GetArchiveRequest(student_id=student_id),
                    metadata=bearer_metadata(token) if token else None,
                )
    finally:
        await channel.close()
        await archives.server.stop(0)
        await archives.close()

    records = await rows(stack, 3)
    assert len(records) == 3
    await assert_chain(stack, records)
    assert {r["action"] for r in records} == {"/xinyu.archives.v1.ArchivesService/GetArchive"}
    assert {r["service"] for r in records} == {"archives"}
    seen = sorted((str(r["actor_subject"]), r["resource_id"], r["reason"]) for r in records)
    assert seen == sorted(
        [
            (subject_of(police), "", "permission-denied"),
            (subject_of(police), student, "permission-denied"),
            (NIL_SUBJECT, student, "unauthenticated"),
        ]
    )
    assert all(r["trace_id"] and len(r["trace_id"]) == 32 for r in records)
    assert_nothing_planted(stack, records)


# --- identity's own AuditService (through its outbox and relay) ------------------------------


@dataclass
class AuditServer:
    server: GrpcServer
    stub: audit_pb2_grpc.AuditServiceStub


@pytest.fixture
async def audit_server(stack: Stack, local_env: None) -> AsyncIterator[AuditServer]:
    settings = IdentitySettings()
    producer = AsyncProducer(build_producer(settings.kafka, client_id="identity"))
    relay = OutboxRelay(stack.sessions, PostgresOutbox(stack.outbox), producer)
    recorder = OutboxAuditRecorder(
        "identity", OutboxWriter(stack.outbox, on_commit=relay.wake), stack.sessions
    )
    http = httpx.AsyncClient()
    server = build_server(
        "127.0.0.1:0",
        [audit_service(stack.sessions, recorder, stack.log.table)],
        build_token_verifier(settings.keycloak, http),
        reflection_enabled=False,
        tracer_provider=stack.provider,
        audit=recorder,
    )
    await server.start()
    relaying = asyncio.create_task(relay.run())
    channel = open_channel(f"127.0.0.1:{server.port}")
    try:
        yield AuditServer(server=server, stub=audit_pb2_grpc.AuditServiceStub(channel))
    finally:
        await channel.close()
        await server.stop(0)
        relay.stop()
        await asyncio.gather(relaying, return_exceptions=True)
        await producer.close()
        await http.aclose()


async def test_the_audit_service_refuses_others_and_its_refusals_and_reads_are_audited(
    stack: Stack, audit_server: AuditServer
) -> None:
    stub = audit_server.stub
    teacher, auditor = cached_token("head.teacher"), cached_token("auditor.demo")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest(), metadata=bearer_metadata(teacher)
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.VerifyAuditChain(
            audit_pb2.VerifyAuditChainRequest(), metadata=bearer_metadata(teacher)
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [first, second] = await rows(stack, 2)

    page = await stub.ListAuditRecords(
        audit_pb2.ListAuditRecordsRequest(
            actor_subject=subject_of(teacher), outcome=audit_pb2.OUTCOME_DENIED, page_size=1
        ),
        metadata=bearer_metadata(auditor),
    )
    assert [r.seq for r in page.records] == [2]
    assert page.records[0].action == "/xinyu.audit.v1.AuditService/VerifyAuditChain"
    assert page.records[0].prev_hash == first["hash"]
    assert page.records[0].hash == second["hash"]
    rest = await stub.ListAuditRecords(
        audit_pb2.ListAuditRecordsRequest(
            actor_subject=subject_of(teacher), page_size=1, page_token=page.next_page_token
        ),
        metadata=bearer_metadata(auditor),
    )
    assert [r.seq for r in rest.records] == [1]
    assert rest.next_page_token == ""

    # Both listings are themselves in the log, as reads of the audit log by the auditor.
    records = await rows(stack, 4)
    reads = [r for r in records if r["outcome"] == "ALLOWED"]
    assert [(str(r["actor_subject"]), r["resource_type"], r["reason"]) for r in reads] == [
        (subject_of(auditor), "audit-log", "sensitive-read")
    ] * 2
    assert {r["service"] for r in records} == {"identity"}

    report = await stub.VerifyAuditChain(
        audit_pb2.VerifyAuditChainRequest(), metadata=bearer_metadata(cached_token("city.admin"))
    )
    assert report.intact
    assert report.records_checked == report.head_seq == 4
    assert report.head_hash == records[-1]["hash"]
    await assert_chain(stack, records)


# --- at-least-once delivery ------------------------------------------------------------------


async def test_a_duplicate_delivery_adds_no_row(stack: Stack, local_env: None) -> None:
    producer = AsyncProducer(build_producer(GatewaySettings().kafka, client_id="gateway"))
    actor = principal("guardian", subject=str(uuid.uuid4()))

    def denial(action: str) -> audit_events.AccessAudited:
        return access_audited(
            service="gateway",
            principal=actor,
            action=action,
            resource_type="",
            resource_id="",
            outcome=DENIED,
            reason="role-not-allowed",
        )

    repeated, marker = denial("GET /v1/repeated"), denial("GET /v1/marker")
    try:
        # Same key, so one partition: once the marker is stored, both copies were handled.
        for event in (repeated, repeated, marker):
            assert (await producer.send(audit_record(event))).delivered
    finally:
        await producer.close()
    records = await rows(stack, 2)
    await asyncio.sleep(1.0)  # a third row, if the duplicate were appended, would be there now
    async with stack.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(stack.log.table))
    assert total == 2
    assert [r["action"] for r in records] == ["GET /v1/repeated", "GET /v1/marker"]
    await assert_chain(stack, records)


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    # Tokens live five minutes; a long run must not reuse one cached by an earlier test.
    cached_token.cache_clear()
