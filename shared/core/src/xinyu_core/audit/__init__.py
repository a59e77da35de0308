"""The chassis's audit trail (R5): every denial and every read of a sensitive section becomes
an ``xinyu.events.v1.AccessAudited`` event on ``platform.audit.recorded.v1``; identity keeps
them in an append-only, hash-chained log.

Wiring, in a service's ``bootstrap.py``::

    # a service with an outbox: reads are recorded in their own transaction
    audit = OutboxAuditRecorder("archives", OutboxWriter(outbox, on_commit=relay.wake), sessions)
    # the gateway, or a service without an outbox: acks=all, awaited before answering
    audit = KafkaAuditRecorder("gateway", AsyncProducer(build_producer(kafka, "gateway")))

    server = build_server(listen, registrations, verifier, audit=audit, ...)  # denials

    # a use case that reads a sensitive section, inside the transaction that reads it
    await audit.sensitive_read(session, principal, method, "case", case_id)
"""

from xinyu_core.audit.events import (
    ALLOWED,
    ANONYMOUS,
    AUDIT_TOPIC,
    DENIED,
    INVALID_CODE,
    NIL_SUBJECT,
    PERMISSION_DENIED,
    ROLE_NOT_ALLOWED,
    SENSITIVE_READ,
    UNAUTHENTICATED,
    access_audited,
    actor_subject,
    opaque_id,
    resource_of,
)
from xinyu_core.audit.recorders import (
    AuditRecorder,
    EventWriter,
    KafkaAuditRecorder,
    OutboxAuditRecorder,
    audit_record,
)

__all__ = [
    "ALLOWED",
    "ANONYMOUS",
    "AUDIT_TOPIC",
    "DENIED",
    "INVALID_CODE",
    "NIL_SUBJECT",
    "PERMISSION_DENIED",
    "ROLE_NOT_ALLOWED",
    "SENSITIVE_READ",
    "UNAUTHENTICATED",
    "AuditRecorder",
    "EventWriter",
    "KafkaAuditRecorder",
    "OutboxAuditRecorder",
    "access_audited",
    "actor_subject",
    "audit_record",
    "opaque_id",
    "resource_of",
]
