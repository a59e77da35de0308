"""gRPC ⇄ domain translation for ``xinyu.audit.v1.AuditService``. No rules here."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from identity.audit.chain import ChainedEntry
from identity.audit.store import AuditFilter
from identity.audit.trail import AuditTrail
from xinyu.audit.v1 import audit_pb2, audit_pb2_grpc
from xinyu_core.audit import opaque_id
from xinyu_core.errors import InvalidArgument
from xinyu_core.grpc.server import current_principal

SERVICE_NAME = "xinyu.audit.v1.AuditService"

_OUTCOME_NAMES = {
    audit_pb2.OUTCOME_ALLOWED: "ALLOWED",
    audit_pb2.OUTCOME_DENIED: "DENIED",
}
_OUTCOMES = {name: value for value, name in _OUTCOME_NAMES.items()}
_TOKEN = re.compile(r"^before:([1-9][0-9]{0,18})$")


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    async def ListAuditRecords(
        self, request: audit_pb2.ListAuditRecordsRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListAuditRecordsResponse:
        page = await self._trail.list_records(
            current_principal(),
            filter_of(request),
            page_size=request.page_size,
            before_seq=decode_page_token(request.page_token),
        )
        return audit_pb2.ListAuditRecordsResponse(
            records=[record_message(record) for record in page.records],
            next_page_token=encode_page_token(page.next_before_seq),
        )

    async def VerifyAuditChain(
        self, request: audit_pb2.VerifyAuditChainRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.VerifyAuditChainResponse:
        report = await self._trail.verify_chain(current_principal())
        return audit_pb2.VerifyAuditChainResponse(
            intact=report.intact,
            records_checked=report.checked,
            head_seq=report.head_seq,
            head_hash=report.head_hash,
            first_broken_seq=report.first_broken_seq,
            problem=report.problem,
        )


def filter_of(request: audit_pb2.ListAuditRecordsRequest) -> AuditFilter:
    subject: uuid.UUID | None = None
    if request.actor_subject:
        try:
            subject = uuid.UUID(request.actor_subject)
        except ValueError:
            raise InvalidArgument("actor_subject", "must be a UUID") from None
    if request.resource_id and not opaque_id(request.resource_id):
        raise InvalidArgument("resource_id", "must be an opaque id")
    return AuditFilter(
        actor_subject=subject,
        resource_id=request.resource_id,
        outcome=_OUTCOME_NAMES.get(request.outcome),
        occurred_after=(
            _datetime(request.occurred_after) if request.HasField("occurred_after") else None
        ),
        occurred_before=(
            _datetime(request.occurred_before) if request.HasField("occurred_before") else None
        ),
    )


def encode_page_token(before_seq: int | None) -> str:
    if before_seq is None:
        return ""
    return base64.urlsafe_b64encode(f"before:{before_seq}".encode()).decode()


def decode_page_token(token: str) -> int | None:
    """The cursor in a token this service issued; opaque to clients."""
    if not token:
        return None
    try:
        found = _TOKEN.fullmatch(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        found = None
    if found is None:
        raise InvalidArgument("page_token", "not a token from a previous page")
    return int(found.group(1))


def record_message(record: ChainedEntry) -> audit_pb2.AuditRecord:
    entry = record.entry
    return audit_pb2.AuditRecord(
        seq=entry.seq,
        event_id=str(entry.event_id),
        occurred_at=_timestamp(entry.occurred_at),
        recorded_at=_timestamp(entry.recorded_at),
        producer=entry.producer,
        actor_subject=str(entry.actor_subject),
        actor_roles=list(entry.actor_roles),
        actor_org_unit=entry.actor_org_unit,
        actor_client_id=entry.actor_client_id,
        service=entry.service,
        action=entry.action,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
        outcome=_OUTCOMES.get(entry.outcome, audit_pb2.OUTCOME_UNSPECIFIED),
        reason=entry.reason,
        purpose=entry.purpose,
        trace_id=entry.trace_id,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def _datetime(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
