"""One trace covers the walking slice: HTTP into the gateway, gRPC into identity, the outbox
relay's Kafka produce, and the archives consumer — against the real PostgreSQL, Kafka and
Keycloak. The services run in this process so their spans can be collected in memory; every
hop between them still crosses a real socket (HTTP, gRPC, the broker)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from archives.bootstrap import MIGRATIONS as ARCHIVES_MIGRATIONS
from archives.bootstrap import build_enrolment_consumer, build_server_side
from archives.config import ArchivesSettings
from gateway.app import create_app
from gateway.config import GatewaySettings
from identity.bootstrap import MIGRATIONS as IDENTITY_MIGRATIONS
from identity.bootstrap import build as build_identity
from identity.config import IdentitySettings
from xinyu_core.migrations import upgrade
from xinyu_e2e import cached_token

pytestmark = pytest.mark.integration

LOCAL_ENV = os.path.join(os.path.dirname(__file__), "..", "..", "infra", "local", "services.env")


def _local_settings_env() -> dict[str, str]:
    values: dict[str, str] = {}
    with open(LOCAL_ENV, encoding="utf-8") as env:
        for line in env:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value
    return values


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> tuple[TracerProvider, InMemorySpanExporter]:
    for key, value in _local_settings_env().items():
        monkeypatch.setenv(key, value)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
async def gateway_url(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> AsyncIterator[str]:
    provider, _ = spans
    for migrations, settings in (
        (IDENTITY_MIGRATIONS, IdentitySettings()),
        (ARCHIVES_MIGRATIONS, ArchivesSettings()),
    ):
        await asyncio.to_thread(upgrade, migrations, settings.database_url.get_secret_value())
    identity = build_identity(IdentitySettings(grpc_listen="127.0.0.1:0"), provider)
    archives = build_server_side(ArchivesSettings(grpc_listen="127.0.0.1:0"), provider)
    consumer_side = build_enrolment_consumer(
        ArchivesSettings(), provider, group_id=f"archives.trace-test-{uuid.uuid4().hex[:8]}"
    )
    assert archives.server is not None
    assert consumer_side.consumer is not None
    await identity.server.start()
    await archives.server.start()
    background = [
        asyncio.create_task(identity.relay.run()),
        asyncio.create_task(consumer_side.consumer.run()),
    ]
    settings = GatewaySettings(
        identity_target=f"127.0.0.1:{identity.server.port}",
        archives_target=f"127.0.0.1:{archives.server.port}",
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, provider), host="127.0.0.1", port=0, log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        identity.relay.stop()
        consumer_side.consumer.stop()
        await asyncio.gather(*background, return_exceptions=True)
        await identity.server.stop(0)
        await archives.server.stop(0)
        await identity.close()
        await archives.close()
        await consumer_side.close()


async def test_one_trace_covers_http_grpc_kafka_and_the_consumer(
    gateway_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    _, exporter = spans
    number = "G3607029" + uuid.uuid4().int.__str__()[:10] + "X"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10.0) as client:
        # The school must exist before a student is enrolled there (on a fresh stack the demo
        # data is not loaded yet); registering it again changes nothing.
        school = await client.post(
            "/v1/schools",
            json={
                "school_code": "3607020001",
                "name": "章贡区心育示范学校",
                "county_code": "360702",
                "school_type": "nine_year",
                "enrolment": 1200,
                "has_counselling_station": True,
                "has_hotline": True,
                "has_counsellor": True,
            },
            headers={"Authorization": f"Bearer {cached_token('zhanggong.admin')}"},
        )
        assert school.status_code in (200, 201), school.text
        exporter.clear()
        reply = await client.post(
            "/v1/students",
            json={
                "student_number": number,
                "full_name": "追踪学生",
                "school_code": "3607020001",
                "county_code": "360702",
            },
            headers={"Authorization": f"Bearer {cached_token('school.admin')}"},
        )
    assert reply.status_code == 201, reply.text

    def request_trace() -> int:
        server_spans = [
            s
            for s in exporter.get_finished_spans()
            if s.kind == SpanKind.SERVER and s.name.startswith("POST /v1/students")
        ]
        assert server_spans, "the gateway recorded no server span"
        return server_spans[-1].context.trace_id

    trace_id = request_trace()

    def spans_of_request() -> list[ReadableSpan]:
        return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]

    # The consumer may first replay older events of the topic; wait for this request's own.
    for _ in range(300):
        if any(s.kind == SpanKind.CONSUMER for s in spans_of_request()):
            break
        await asyncio.sleep(0.1)
    in_trace = spans_of_request()
    names = " | ".join(sorted(s.name for s in in_trace))
    assert any(s.kind == SpanKind.CLIENT and "IdentityService" in s.name for s in in_trace), names
    assert any(s.kind == SpanKind.SERVER and "IdentityService" in s.name for s in in_trace), names
    assert any(s.kind == SpanKind.PRODUCER for s in in_trace), names
    assert any(
        s.kind == SpanKind.CONSUMER and "identity.student.enrolled.v1" in s.name for s in in_trace
    ), names
    # No personal data in any span: neither the student number nor the name.
    for span in exporter.get_finished_spans():
        rendered = span.to_json()
        assert number not in rendered
        assert "追踪学生" not in rendered
