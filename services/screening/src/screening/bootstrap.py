"""Composition root of screening: the only place its objects are built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from screening.adapters.clients.identity import GrpcIdentity
from screening.adapters.db.answers import PgAnswerStore
from screening.adapters.db.repository import SqlStore
from screening.adapters.db.tables import outbox
from screening.api.servicer import ScreeningServicer
from screening.config import ScreeningSettings
from screening.domain.campaigns import Campaigns
from screening.domain.codes import SittingKeys
from screening.domain.instruments import Catalogue, load_policy
from screening.domain.ports import Identity
from screening.domain.results import Results
from screening.domain.sealing import Sealer
from screening.domain.shelf import InstrumentShelf
from screening.domain.sittings import SittingRules, Sittings
from xinyu.screening.v1 import screening_pb2_grpc
from xinyu_core.audit import OutboxAuditRecorder
from xinyu_core.auth import build_token_verifier
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.client import open_channel
from xinyu_core.grpc.server import GrpcServer, Registration, build_server
from xinyu_core.messaging import (
    AsyncProducer,
    MessagingHousekeeping,
    OutboxRelay,
    OutboxWriter,
    PostgresOutbox,
    build_producer,
)
from xinyu_core.settings import Environment

SERVICE = "screening"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Screening:
    server: GrpcServer
    relay: OutboxRelay
    housekeeping: MessagingHousekeeping
    engine: AsyncEngine
    answer_engine: AsyncEngine
    answers: PgAnswerStore
    producer: AsyncProducer
    http: httpx.AsyncClient
    channel: grpc.aio.Channel | None
    shelf: InstrumentShelf
    servicer: ScreeningServicer

    async def close(self) -> None:
        self.relay.stop()
        await self.producer.close()
        if self.channel is not None:
            await self.channel.close()
        await self.engine.dispose()
        await self.answers.close()
        await self.answer_engine.dispose()
        await self.http.aclose()


def build(
    settings: ScreeningSettings,
    tracer_provider: TracerProvider | None = None,
    *,
    identity: Identity | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Screening:
    """``identity`` replaces the gRPC client (tests); everything else is built from settings.
    Call ``await screening.shelf.refresh()`` before serving, so stored licensed instruments
    join the shipped ones."""
    engine = make_engine(settings.database_url.get_secret_value())
    sessions = make_session_factory(engine)
    producer = AsyncProducer(build_producer(settings.kafka, client_id=SERVICE))
    relay = OutboxRelay(
        sessions,
        PostgresOutbox(outbox),
        producer,
        poll_interval_seconds=1.0,
        tracer_provider=tracer_provider,
    )
    writer = OutboxWriter(outbox, on_commit=relay.wake)
    # Refusals and every read of answers go through the outbox to platform.audit.recorded.v1.
    audit = OutboxAuditRecorder(SERVICE, writer, sessions)
    store = SqlStore(sessions, writer, audit)
    channel = None
    if identity is None:
        channel = open_channel(
            settings.identity_target,
            default_deadline_seconds=settings.identity_deadline_seconds,
            tracer_provider=tracer_provider,
        )
        identity = GrpcIdentity(channel, settings.identity_deadline_seconds)
    catalogue = Catalogue.shipped()
    shelf = InstrumentShelf(catalogue, load_policy(catalogue), store, clock)
    sealer = Sealer(FieldCipher.from_hex(settings.field_encryption_key.get_secret_value()))
    keys = SittingKeys(settings.sitting_token_key.get_secret_value().encode())
    rules = SittingRules(
        wrong_codes_per_participant=settings.wrong_codes_per_participant,
        high_risk_level=settings.high_risk_level,
        guardian_task_days=settings.guardian_task_days,
    )
    # SubmitAnswers' own pool: autocommit (its write is one statement), no pre-ping round trip
    # per submission, no overflow connections opened and closed under load; connections are
    # recycled every ten minutes, and a submission that meets a dead one fails and is resent.
    answer_engine = create_async_engine(
        settings.database_url.get_secret_value(),
        isolation_level="AUTOCOMMIT",
        pool_size=settings.answer_pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_recycle=600,
    )
    answers = PgAnswerStore(
        answer_engine,
        writer,
        window=settings.answer_batch_window_ms / 1000,
        most=settings.answer_batch_most,
    )
    servicer = ScreeningServicer(
        shelf,
        Campaigns(store, shelf, identity, clock),
        Sittings(store, shelf, identity, answers, keys, sealer, clock, rules),
        Results(
            store,
            identity,
            sealer,
            clock,
            high_risk_level=settings.high_risk_level,
            guardian_task_days=settings.guardian_task_days,
        ),
    )
    http = httpx.AsyncClient()
    server = build_server(
        settings.grpc_listen,
        [
            Registration(
                "xinyu.screening.v1.ScreeningService",
                screening_pb2_grpc.add_ScreeningServiceServicer_to_server,
                servicer,
            )
        ],
        build_token_verifier(settings.keycloak, http),
        reflection_enabled=settings.environment != Environment.PRODUCTION,
        tracer_provider=tracer_provider,
        audit=audit,
    )
    return Screening(
        server=server,
        relay=relay,
        housekeeping=MessagingHousekeeping(sessions, settings.housekeeping, outbox=outbox),
        engine=engine,
        answer_engine=answer_engine,
        answers=answers,
        producer=producer,
        http=http,
        channel=channel,
        shelf=shelf,
        servicer=servicer,
    )
