"""Recording access decisions: the :class:`AuditRecorder` port and its two adapters.

* :class:`OutboxAuditRecorder`, for services with a database and an outbox: a sensitive read
  is recorded in the caller's own transaction, so the read and its record commit together or
  not at all; a denial (which has no transaction) gets a short transaction of its own.
* :class:`KafkaAuditRecorder`, for the gateway (no database) and services without an outbox:
  the record is produced with acks=all and the broker's acknowledgement is awaited before the
  caller answers.

A denial is refused whatever happens to its record: :meth:`AuditRecorder.denied` never raises,
and a record it could not store is logged at ERROR (ids and codes only) so the gap is visible.
A sensitive read is the opposite: if its record cannot be stored the read must fail, so
:meth:`AuditRecorder.sensitive_read` raises.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Final, Protocol

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from xinyu.events.v1 import audit_pb2
from xinyu_core.audit.events import (
    ALLOWED,
    AUDIT_TOPIC,
    DENIED,
    SENSITIVE_READ,
    access_audited,
)
from xinyu_core.auth import Principal
from xinyu_core.errors import Unavailable
from xinyu_core.messaging import tracing
from xinyu_core.messaging._redact import error_fields
from xinyu_core.messaging.outbox import (
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    PAYLOAD_TYPE_HEADER,
    PROTOBUF_CONTENT_TYPE,
    SessionFactory,
)
from xinyu_core.messaging.producer import AsyncProducer, OutgoingRecord

# Not __name__: the platform's audit logger, which operators route and keep apart.
log = logging.getLogger("xinyu.audit")

# How long a caller waits for the broker before giving up on a record. A denied caller is kept
# waiting that long while Kafka is down, so it stays short; the record may still arrive later.
DEFAULT_SEND_TIMEOUT_SECONDS: Final = 5.0


class AuditRecorder(Protocol):
    """What the guard, the gateway and use cases call to record an access decision."""

    async def denied(
        self,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
        reason: str,
    ) -> None:
        """Record a refusal. Never raises: the caller refuses either way."""
        ...

    async def sensitive_read(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
    ) -> None:
        """Record a read of a sensitive section in ``session``'s transaction (the one that
        reads). Raises when the record cannot be stored, so the read does not happen."""
        ...


class EventWriter(Protocol):
    """The part of :class:`xinyu_core.messaging.OutboxWriter` the recorder uses."""

    async def add(self, session: AsyncSession, topic: str, message: Message) -> uuid.UUID: ...


class OutboxAuditRecorder:
    """Records through the service's transactional outbox; its relay publishes them."""

    def __init__(self, service: str, writer: EventWriter, sessions: SessionFactory) -> None:
        self._service = service
        self._writer = writer
        self._sessions = sessions

    async def denied(
        self,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
        reason: str,
    ) -> None:
        event = access_audited(
            service=self._service,
            principal=principal,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=DENIED,
            reason=reason,
        )
        try:
            async with self._sessions.begin() as session:
                await self._writer.add(session, AUDIT_TOPIC, event)
        except Exception as exc:  # the database is down: the refusal still goes out
            _log_lost(event, error_fields(exc))

    async def sensitive_read(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
    ) -> None:
        event = access_audited(
            service=self._service,
            principal=principal,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=ALLOWED,
            reason=SENSITIVE_READ,
        )
        # Same transaction as the read: if the caller rolls back, neither exists.
        await self._writer.add(session, AUDIT_TOPIC, event)


class KafkaAuditRecorder:
    """Produces records straight to the broker and waits for its acknowledgement."""

    def __init__(
        self,
        service: str,
        producer: AsyncProducer,
        *,
        send_timeout_seconds: float = DEFAULT_SEND_TIMEOUT_SECONDS,
    ) -> None:
        self._service = service
        self._producer = producer
        self._timeout = send_timeout_seconds

    async def denied(
        self,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
        reason: str,
    ) -> None:
        event = access_audited(
            service=self._service,
            principal=principal,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=DENIED,
            reason=reason,
        )
        failure = await self._send(event)
        if failure is not None:
            _log_lost(event, failure)

    async def sensitive_read(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
    ) -> None:
        # No outbox here, so the record is sent before the data is returned; if the read then
        # fails, the log shows a read that returned nothing, which errs on the safe side.
        event = access_audited(
            service=self._service,
            principal=principal,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=ALLOWED,
            reason=SENSITIVE_READ,
        )
        failure = await self._send(event)
        if failure is not None:
            _log_lost(event, failure)
            raise Unavailable("the read could not be audited; try again")

    async def _send(self, event: audit_pb2.AccessAudited) -> dict[str, str] | None:
        """None when the broker acknowledged the record, else log fields saying why not."""
        try:
            report = await asyncio.wait_for(
                self._producer.send(audit_record(event)), timeout=self._timeout
            )
        except TimeoutError:
            return {"kafka_error": "_AUDIT_SEND_TIMEOUT"}
        except Exception as exc:
            return error_fields(exc)
        if not report.delivered:
            return {"kafka_error": report.error or "_UNKNOWN"}
        return None


def audit_record(event: audit_pb2.AccessAudited) -> OutgoingRecord:
    """The Kafka record of an event: the same headers an outbox row gets, plus the trace."""
    headers = {
        **tracing.capture_trace_headers(),
        CONTENT_TYPE_HEADER: PROTOBUF_CONTENT_TYPE,
        EVENT_ID_HEADER: event.meta.event_id,
        PAYLOAD_TYPE_HEADER: event.meta.payload_type,
    }
    return OutgoingRecord(
        topic=AUDIT_TOPIC,
        key=event.meta.subject.encode(),
        value=event.SerializeToString(),
        headers=[(name, value.encode()) for name, value in headers.items()],
    )


def _log_lost(event: audit_pb2.AccessAudited, why: dict[str, str]) -> None:
    # Ids and codes only, so this line can stand in for the lost record without adding
    # personal data to the logs.
    log.error(
        "audit record not stored",
        extra={
            "event_id": event.meta.event_id,
            "actor_subject": event.actor_subject,
            "service": event.service,
            "action": event.action,
            "resource_type": event.resource_type,
            "resource_id": event.resource_id,
            "outcome": audit_pb2.AccessOutcome.Name(event.outcome),
            "reason": event.reason,
            **why,
        },
    )
