"""Composition root of alerts: the only place its objects are built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alerts.adapters.clients.identity import IdentityClient
from alerts.adapters.db.repository import SqlTransactions
from alerts.adapters.db.tables import inbox, outbox
from alerts.adapters.delivery.channels import InboxChannel, WebhookChannel
from alerts.adapters.messaging.events import (
    NOTIFICATION_REQUESTED,
    SCREENING_CONFIRMED,
    SCREENING_FLAGGED,
    EventOutbox,
)
from alerts.adapters.messaging.handlers import Handlers, NotificationHandler
from alerts.adapters.messaging.unit_reports import decoders
from alerts.adapters.scheduler import EscalationScheduler
from alerts.api.servicer import AlertServicer
from alerts.config import AlertsSettings
from alerts.domain.clock import SystemClock
from alerts.domain.delivery import Channel, Deliverer, RetryPlan
from alerts.domain.intake import Intake
from alerts.domain.policy import Policy
from alerts.domain.ports import Clock, ResponderDirectory, StudentMatcher
from alerts.domain.routing import Router
from alerts.domain.service import AlertService
from xinyu.alerts.v1 import alerts_pb2_grpc
from xinyu.events.v1 import alerts_pb2 as alert_events
from xinyu.events.v1 import screening_pb2 as screening_events
from xinyu_core.audit import OutboxAuditRecorder
from xinyu_core.auth import ServiceTokenSource, build_token_verifier
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.client import open_channel
from xinyu_core.grpc.server import GrpcServer, Registration, build_server
from xinyu_core.messaging import (
    AsyncProducer,
    EventConsumer,
    MessagingHousekeeping,
    OutboxRelay,
    OutboxWriter,
    PostgresInbox,
    PostgresOutbox,
    RetryPolicy,
    build_consumer,
    build_producer,
)
from xinyu_core.settings import Environment

SERVICE = "alerts"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONSUMERS = ("units", "screening", "notifications")
# Consumer groups: prefixed with the service's name, one per consumer (they read different
# topics); replays and tests add a further suffix.
UNITS_GROUP = f"{SERVICE}.units"
SCREENING_GROUP = f"{SERVICE}.screening"
NOTIFICATIONS_GROUP = f"{SERVICE}.notifications"


@dataclass
class Core:
    """What every alerts process shares: the database, the outbox and its relay, identity."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AsyncProducer
    relay: OutboxRelay
    writer: OutboxWriter
    transactions: SqlTransactions
    http: httpx.AsyncClient
    channel: grpc.aio.Channel | None
    router: Router
    intake: Intake
    clock: Clock
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        self.relay.stop()
        for closer in self.closers:
            await closer()
        await self.producer.close()
        if self.channel is not None:
            await self.channel.close()
        await self.engine.dispose()
        await self.http.aclose()


@dataclass
class Alerts:
    core: Core
    server: GrpcServer | None = None
    scheduler: EscalationScheduler | None = None
    housekeeping: MessagingHousekeeping | None = None
    consumers: list[EventConsumer] = field(default_factory=list)

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        jobs: list[Callable[[], Coroutine[Any, Any, None]]] = [self.core.relay.run]
        if self.scheduler is not None:
            jobs.append(self.scheduler.run)
        if self.housekeeping is not None:
            jobs.append(self.housekeeping.run)
        jobs.extend(consumer.run for consumer in self.consumers)
        return jobs

    def stop(self) -> None:
        self.core.relay.stop()
        if self.housekeeping is not None:
            self.housekeeping.stop()
        for consumer in self.consumers:
            consumer.stop()

    async def close(self) -> None:
        self.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.core.close()


def build_core(
    settings: AlertsSettings,
    tracer_provider: TracerProvider | None = None,
    *,
    pool_size: int = 5,
    clock: Clock | None = None,
    matcher: StudentMatcher | None = None,
    responders: ResponderDirectory | None = None,
    client_id: str = SERVICE,
) -> Core:
    """``matcher``/``responders`` replace identity (tests); otherwise alerts calls identity as
    its own Keycloak client."""
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=pool_size)
    sessions = make_session_factory(engine)
    producer = AsyncProducer(build_producer(settings.kafka, client_id=client_id))
    relay = OutboxRelay(
        sessions,
        PostgresOutbox(outbox),
        producer,
        poll_interval_seconds=1.0,
        tracer_provider=tracer_provider,
    )
    writer = OutboxWriter(outbox, on_commit=relay.wake)
    events = EventOutbox(writer, on_commit=relay.wake)
    transactions = SqlTransactions(sessions, settings.field_cipher(), events)
    http = httpx.AsyncClient()
    channel = None
    if matcher is None or responders is None:
        channel = open_channel(
            settings.identity_target,
            default_deadline_seconds=settings.identity_deadline_seconds,
            tracer_provider=tracer_provider,
        )
        identity = IdentityClient(channel, ServiceTokenSource(settings.keycloak, http))
        matcher = matcher or identity
        responders = responders or identity
    clock = clock or SystemClock()
    policy = Policy.load(settings.policy_path or None)
    delivery_channel = "webhook" if settings.notification_webhook_url else "inbox"
    router = Router(policy, responders, clock, channel=delivery_channel)
    intake = Intake(router, matcher, clock)
    return Core(
        engine=engine,
        sessions=sessions,
        producer=producer,
        relay=relay,
        writer=writer,
        transactions=transactions,
        http=http,
        channel=channel,
        router=router,
        intake=intake,
        clock=clock,
    )


def build_server_side(
    settings: AlertsSettings, tracer_provider: TracerProvider | None = None, **overrides: Any
) -> Alerts:
    core = build_core(settings, tracer_provider, **overrides)
    audit = OutboxAuditRecorder(SERVICE, core.writer, core.sessions)
    transactions = SqlTransactions(
        core.sessions, settings.field_cipher(), core.transactions.events, audit
    )
    responders = core.router.responders
    service = AlertService(
        transactions,
        core.router,
        core.intake,
        responders,
        core.clock,
        locate_units=settings.locate_units,
    )
    server = build_server(
        settings.grpc_listen,
        [
            Registration(
                "xinyu.alerts.v1.AlertService",
                alerts_pb2_grpc.add_AlertServiceServicer_to_server,
                AlertServicer(service),
            )
        ],
        build_token_verifier(settings.keycloak, core.http),
        reflection_enabled=settings.environment != Environment.PRODUCTION,
        tracer_provider=tracer_provider,
        audit=audit,
    )
    scheduler = EscalationScheduler(
        core.transactions, core.router, interval_seconds=settings.scheduler_interval_seconds
    )
    # The outbox and the inbox of every alerts process, kept by the serving one.
    housekeeping = MessagingHousekeeping(
        core.sessions, settings.housekeeping, outbox=outbox, inbox=inbox
    )
    return Alerts(core=core, server=server, scheduler=scheduler, housekeeping=housekeeping)


def _consumer(
    settings: AlertsSettings,
    core: Core,
    group_id: str,
    instance: str,
    *,
    auto_offset_reset: str,
    tracer_provider: TracerProvider | None,
    on_dead_letter: Any = None,
    retry: RetryPolicy | None = None,
    max_batch: int = 1,
) -> EventConsumer:
    dlq = AsyncProducer(build_producer(settings.kafka, client_id=f"{SERVICE}-dlq-{instance}"))
    core.closers.append(dlq.close)
    return EventConsumer(
        consumer=build_consumer(
            settings.kafka,
            client_id=f"{SERVICE}-{instance}",
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
        ),
        consumer_group=group_id,
        sessions=core.sessions,
        inbox=PostgresInbox(inbox),
        dlq_producer=dlq,
        on_dead_letter=on_dead_letter,
        retry=retry,
        max_batch=max_batch,
        tracer_provider=tracer_provider,
    )


def build_units_consumer(
    settings: AlertsSettings,
    tracer_provider: TracerProvider | None = None,
    *,
    group_id: str = UNITS_GROUP,
    auto_offset_reset: str = "earliest",
    instances: int | None = None,
    max_batch: int | None = None,
    **overrides: Any,
) -> Alerts:
    """Reads every partner unit's inbound topic (R12). The unit is the topic's: the broker
    authenticated whoever wrote it, and a unit may write only its own topic."""
    count = max(1, instances if instances is not None else settings.units_consumers)
    core = build_core(settings, tracer_provider, pool_size=count + 2, **overrides)
    handlers = Handlers(core.transactions, core.intake)
    topic_decoders = decoders(list(settings.unit_topics))
    consumers = []
    for number in range(count):
        consumer = _consumer(
            settings,
            core,
            group_id,
            f"units-{number}",
            auto_offset_reset=auto_offset_reset,
            tracer_provider=tracer_provider,
            on_dead_letter=handlers.on_dead_letter,
            max_batch=max_batch if max_batch is not None else settings.units_batch,
        )
        for topic, decode in topic_decoders.items():
            consumer.register_batch(
                topic,
                alert_events.UnitReportReceived,
                handlers.on_unit_reports,
                external=True,
                decode=decode,
            )
        consumers.append(consumer)
    return Alerts(core=core, consumers=consumers)


def build_screening_consumer(
    settings: AlertsSettings,
    tracer_provider: TracerProvider | None = None,
    *,
    group_id: str = SCREENING_GROUP,
    auto_offset_reset: str = "earliest",
    **overrides: Any,
) -> Alerts:
    core = build_core(settings, tracer_provider, pool_size=3, **overrides)
    handlers = Handlers(core.transactions, core.intake)
    consumer = _consumer(
        settings,
        core,
        group_id,
        "screening",
        auto_offset_reset=auto_offset_reset,
        tracer_provider=tracer_provider,
        on_dead_letter=handlers.on_dead_letter,
    )
    consumer.register(SCREENING_FLAGGED, screening_events.ResultFlagged, handlers.on_result_flagged)
    consumer.register(
        SCREENING_CONFIRMED, screening_events.LevelConfirmed, handlers.on_level_confirmed
    )
    return Alerts(core=core, consumers=[consumer])


def delivery_channel(settings: AlertsSettings, http: httpx.AsyncClient) -> Channel:
    if settings.notification_webhook_url:
        return WebhookChannel(http, settings.notification_webhook_url)
    return InboxChannel()


def build_notifications_consumer(
    settings: AlertsSettings,
    tracer_provider: TracerProvider | None = None,
    *,
    group_id: str = NOTIFICATIONS_GROUP,
    auto_offset_reset: str = "earliest",
    channel: Channel | None = None,
    **overrides: Any,
) -> Alerts:
    """Delivers NotificationRequested events, recording every attempt on the record."""
    core = build_core(settings, tracer_provider, pool_size=3, **overrides)
    deliverer = Deliverer(
        core.transactions,
        channel or delivery_channel(settings, core.http),
        core.clock,
        RetryPlan(
            attempts=settings.notification_attempts,
            initial_backoff_seconds=settings.notification_backoff_seconds,
        ),
    )
    consumer = _consumer(
        settings,
        core,
        group_id,
        "notifications",
        auto_offset_reset=auto_offset_reset,
        tracer_provider=tracer_provider,
        max_batch=settings.notifications_batch,
    )
    consumer.register_batch(
        NOTIFICATION_REQUESTED,
        alert_events.NotificationRequested,
        NotificationHandler(deliverer).on_requested,
    )
    return Alerts(core=core, consumers=[consumer])


BUILDERS: dict[str, Callable[..., Alerts]] = {
    "units": build_units_consumer,
    "screening": build_screening_consumer,
    "notifications": build_notifications_consumer,
}
