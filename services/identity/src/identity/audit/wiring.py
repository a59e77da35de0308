"""How identity's composition root builds the audit log's two sides: the AuditService it
serves, and the consumer that appends ``platform.audit.recorded.v1`` to the chain."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy.exc
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from identity.audit.handler import audit_handler
from identity.audit.servicer import SERVICE_NAME, AuditServicer
from identity.audit.store import AuditLogInbox, PostgresAuditLog
from identity.audit.tables import audit_log
from identity.audit.trail import AuditTrail, Sessions
from identity.config import IdentitySettings
from xinyu.audit.v1 import audit_pb2_grpc
from xinyu.events.v1 import audit_pb2
from xinyu_core.audit import AUDIT_TOPIC, AuditRecorder
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.server import Registration
from xinyu_core.messaging import (
    AsyncProducer,
    DeadLetter,
    EventConsumer,
    build_consumer,
    build_producer,
)

log = logging.getLogger("xinyu.audit")

# Database errors that say "the log is not ready" (a migration not yet run, an append that lost
# a race) rather than "this record is wrong": retried until they pass, so the partition waits
# (the topic keeps 30 days) instead of dead-lettering access records wholesale. Records that
# break the rules are refused by the handler as PoisonMessage before they reach the database.
RETRIED_DATABASE_ERRORS = (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError)

SERVICE = "identity"
CONSUMER = "audit"


def audit_service(
    sessions: Sessions, recorder: AuditRecorder, table: Table = audit_log
) -> Registration:
    """The AuditService registration for ``build_server``."""
    trail = AuditTrail(sessions, PostgresAuditLog(table), recorder)
    return Registration(
        SERVICE_NAME, audit_pb2_grpc.add_AuditServiceServicer_to_server, AuditServicer(trail)
    )


@dataclass
class AuditConsumer:
    consumer: EventConsumer
    engine: AsyncEngine
    dlq: AsyncProducer

    async def close(self) -> None:
        self.consumer.stop()
        await self.dlq.close()
        await self.engine.dispose()


def build_audit_consumer(
    settings: IdentitySettings,
    tracer_provider: TracerProvider | None = None,
    *,
    group_id: str = SERVICE,
    auto_offset_reset: str = "earliest",
    table: Table = audit_log,
) -> AuditConsumer:
    """``identity consume audit``. The live group is the service's name; tests and replays use
    groups prefixed with it (a replay adds nothing: the log itself drops known event ids)."""
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=2)
    dlq = AsyncProducer(build_producer(settings.kafka, client_id=f"{SERVICE}-dlq"))
    chain = PostgresAuditLog(table)
    consumer = EventConsumer(
        consumer=build_consumer(
            settings.kafka,
            client_id=SERVICE,
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
        ),
        consumer_group=group_id,
        sessions=make_session_factory(engine),
        inbox=AuditLogInbox(chain),
        dlq_producer=dlq,
        on_dead_letter=_report_gap,
        transient_errors=RETRIED_DATABASE_ERRORS,
        tracer_provider=tracer_provider,
    )
    consumer.register(AUDIT_TOPIC, audit_pb2.AccessAudited, audit_handler(chain))
    return AuditConsumer(consumer=consumer, engine=engine, dlq=dlq)


async def _report_gap(letter: DeadLetter) -> None:
    # A dead-lettered audit event is an access decision missing from the chain until someone
    # fixes and replays it: loud, with ids only (the DLQ record holds the rest).
    log.error(
        "audit event dead-lettered; the audit log lacks it until it is replayed",
        extra={
            "event_id": str(letter.event_id) if letter.event_id else "",
            "reason": letter.reason,
            "dlq_topic": letter.dlq_topic,
            "partition": letter.partition,
            "offset": letter.offset,
        },
    )
