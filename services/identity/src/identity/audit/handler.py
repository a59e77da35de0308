"""``platform.audit.recorded.v1`` → the audit log.

Producers build their events with the chassis, which already keeps personal data out; this
side checks again, because the log is kept for years and a producer could be buggy or not use
the chassis. A record that breaks the rules is not stored in part or "cleaned": it goes to the
dead-letter topic with a reason code, for a person to look at.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.chain import AuditEntry
from identity.audit.store import PostgresAuditLog
from xinyu.events.v1 import audit_pb2
from xinyu_core.audit import INVALID_CODE, opaque_id
from xinyu_core.audit.events import CODE_PATTERN, MAX_ACTION_LENGTH, RESOURCE_TYPE_PATTERN
from xinyu_core.messaging import PoisonMessage

__all__ = ["audit_handler", "entry_of"]

OUTCOMES: Final = {
    audit_pb2.ACCESS_OUTCOME_ALLOWED: "ALLOWED",
    audit_pb2.ACCESS_OUTCOME_DENIED: "DENIED",
}
_SERVICE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TRACE_ID = re.compile(r"^(?:[0-9a-f]{32})?$")

Clock = Callable[[], datetime]
AuditHandler = Callable[[AsyncSession, audit_pb2.AccessAudited], Awaitable[None]]


def entry_of(event: audit_pb2.AccessAudited, recorded_at: datetime) -> AuditEntry:
    """The entry to chain (``seq`` 0 until appended); raises :class:`PoisonMessage`."""
    outcome = OUTCOMES.get(event.outcome)
    if outcome is None:
        raise PoisonMessage("audit-outcome-unspecified")
    _require(bool(_UUID.fullmatch(event.actor_subject)), "audit-actor-not-a-uuid")
    _require(event.actor_subject == event.meta.subject, "audit-actor-is-not-the-key")
    _require(opaque_id(event.resource_id) == event.resource_id, "audit-resource-id-not-opaque")
    _require(_is_code(event.reason, CODE_PATTERN), "audit-reason-not-a-code")
    _require(_is_code(event.purpose, CODE_PATTERN), "audit-purpose-not-a-code")
    _require(_is_code(event.resource_type, RESOURCE_TYPE_PATTERN), "audit-resource-type-invalid")
    _require(bool(_SERVICE.fullmatch(event.service)), "audit-service-invalid")
    _require(0 < len(event.action) <= MAX_ACTION_LENGTH, "audit-action-invalid")
    _require(bool(_TRACE_ID.fullmatch(event.trace_id)), "audit-trace-id-invalid")
    # PostgreSQL text cannot hold NUL; refused here rather than as a database error, which the
    # consumer would retry forever.
    free_text = (event.actor_org_unit, event.actor_client_id, event.action, *event.actor_roles)
    _require(not any("\x00" in value for value in free_text), "audit-nul-character")
    return AuditEntry(
        seq=0,
        event_id=uuid.UUID(event.meta.event_id),
        # Timestamp → datetime keeps microseconds, the precision PostgreSQL stores: the hash
        # is computed over exactly what a later verification will read back.
        occurred_at=event.meta.occurred_at.ToDatetime(tzinfo=UTC),
        recorded_at=recorded_at,
        producer=event.meta.producer,
        actor_subject=uuid.UUID(event.actor_subject),
        actor_roles=tuple(sorted(event.actor_roles)),
        actor_org_unit=event.actor_org_unit,
        actor_client_id=event.actor_client_id,
        service=event.service,
        action=event.action,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        outcome=outcome,
        reason=event.reason,
        purpose=event.purpose,
        trace_id=event.trace_id,
    )


def audit_handler(log: PostgresAuditLog, clock: Clock | None = None) -> AuditHandler:
    """The consumer's handler: append in the consumer's transaction (with its inbox claim)."""
    now = clock or (lambda: datetime.now(UTC))

    async def on_access_audited(session: AsyncSession, event: audit_pb2.AccessAudited) -> None:
        await log.append(session, entry_of(event, now()))

    return on_access_audited


def _is_code(value: str, pattern: re.Pattern[str]) -> bool:
    # INVALID_CODE is the chassis's own marker for a value it refused to copy: keep it.
    return not value or value == INVALID_CODE or bool(pattern.fullmatch(value))


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise PoisonMessage(reason)
