"""Composition root of archives: the only place its objects are built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from archives.adapters.db.repository import SqlArchiveReader
from archives.adapters.db.tables import inbox
from archives.adapters.messaging.handlers import (
    STUDENT_ENROLLED,
    STUDENTS_ENROLLED,
    on_student_enrolled,
    on_students_enrolled,
)
from archives.api.servicer import ArchivesServicer
from archives.config import ArchivesSettings
from archives.domain.use_cases import ArchiveQueries
from xinyu.archives.v1 import archives_pb2_grpc
from xinyu.events.v1 import identity_pb2 as identity_events
from xinyu_core.audit import KafkaAuditRecorder
from xinyu_core.auth import build_token_verifier
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.server import GrpcServer, Registration, build_server
from xinyu_core.messaging import (
    AsyncProducer,
    EventConsumer,
    MessagingHousekeeping,
    PostgresInbox,
    build_consumer,
    build_producer,
)
from xinyu_core.settings import Environment

SERVICE = "archives"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONSUMERS = ("enrolments",)


@dataclass
class Archives:
    engine: AsyncEngine
    http: httpx.AsyncClient
    server: GrpcServer | None = None
    consumer: EventConsumer | None = None
    # The consumers' inbox, kept by the serving process.
    housekeeping: MessagingHousekeeping | None = None
    producers: list[AsyncProducer] = field(default_factory=list)

    async def close(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
        for producer in self.producers:
            await producer.close()
        await self.engine.dispose()
        await self.http.aclose()


def build_server_side(
    settings: ArchivesSettings, tracer_provider: TracerProvider | None = None
) -> Archives:
    engine = make_engine(settings.database_url.get_secret_value())
    http = httpx.AsyncClient()
    sessions = make_session_factory(engine)
    queries = ArchiveQueries(SqlArchiveReader(sessions))
    # Archives has no outbox yet, so refusals go straight to Kafka (acks=all, awaited). When it
    # stores sensitive sections it gets an outbox and an OutboxAuditRecorder, so that each
    # read commits with its record.
    audit_producer = AsyncProducer(build_producer(settings.kafka, client_id=SERVICE))
    server = build_server(
        settings.grpc_listen,
        [
            Registration(
                "xinyu.archives.v1.ArchivesService",
                archives_pb2_grpc.add_ArchivesServiceServicer_to_server,
                ArchivesServicer(queries),
            )
        ],
        build_token_verifier(settings.keycloak, http),
        reflection_enabled=settings.environment != Environment.PRODUCTION,
        tracer_provider=tracer_provider,
        audit=KafkaAuditRecorder(SERVICE, audit_producer),
    )
    return Archives(
        engine=engine,
        http=http,
        server=server,
        housekeeping=MessagingHousekeeping(sessions, settings.housekeeping, inbox=inbox),
        producers=[audit_producer],
    )


def build_enrolment_consumer(
    settings: ArchivesSettings,
    tracer_provider: TracerProvider | None = None,
    *,
    group_id: str = SERVICE,
    auto_offset_reset: str = "earliest",
) -> Archives:
    """Opens a file for every enrolled student (R3). The consumer group is the service's name;
    tests and replays use groups prefixed with it."""
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=2)
    dlq = AsyncProducer(build_producer(settings.kafka, client_id=f"{SERVICE}-dlq"))
    consumer = EventConsumer(
        consumer=build_consumer(
            settings.kafka,
            client_id=SERVICE,
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
        ),
        consumer_group=group_id,
        sessions=make_session_factory(engine),
        inbox=PostgresInbox(inbox),
        dlq_producer=dlq,
        tracer_provider=tracer_provider,
    )
    consumer.register(STUDENT_ENROLLED, identity_events.StudentEnrolled, on_student_enrolled)
    consumer.register(STUDENTS_ENROLLED, identity_events.StudentsEnrolled, on_students_enrolled)
    return Archives(engine=engine, http=httpx.AsyncClient(), consumer=consumer, producers=[dlq])
