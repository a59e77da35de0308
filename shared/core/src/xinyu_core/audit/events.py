"""The ``AccessAudited`` event: how one access decision is described, and what it may contain.

A record outlives the request by years and is read by auditors, so everything that goes into
it is checked here, once, rather than trusted to each caller: the actor is an opaque subject
(the Kafka key), the resource an opaque id or nothing, the reason a short code. A value that
fails a check is dropped (an empty resource id) or replaced by a marker code, never copied.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from google.protobuf.message import Message
from opentelemetry import trace

from xinyu.events.v1 import audit_pb2
from xinyu_core.auth import Principal
from xinyu_core.messaging.events import SUBJECT_PATTERN, stamp

AUDIT_TOPIC: Final = "platform.audit.recorded.v1"

# The actor of a call without a valid token: there is no subject to name, and the Kafka key
# must still be a UUID. All such records share one partition, which keeps them in order.
NIL_SUBJECT: Final = "00000000-0000-0000-0000-000000000000"

ANONYMOUS: Final = Principal(
    subject=NIL_SUBJECT, username="", roles=frozenset(), org_unit="", client_id="", token=""
)

# Reason codes the chassis itself uses. Services may add their own in the same shape.
UNAUTHENTICATED: Final = "unauthenticated"
ROLE_NOT_ALLOWED: Final = "role-not-allowed"
PERMISSION_DENIED: Final = "permission-denied"
SENSITIVE_READ: Final = "sensitive-read"
# Stored instead of a reason, resource type or purpose that is not a plain code: free text
# could quote a name, so it is not kept even in part.
INVALID_CODE: Final = "invalid-code"

ALLOWED: Final = audit_pb2.ACCESS_OUTCOME_ALLOWED
DENIED: Final = audit_pb2.ACCESS_OUTCOME_DENIED

# Request fields that name what a call is about, and the resource type each one means. This is
# platform vocabulary (every service keys students and cases the same way), not service logic.
RESOURCE_FIELDS: Final = (("student_id", "student"), ("case_id", "case"))

CODE_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,99}$")
RESOURCE_TYPE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
MAX_ACTION_LENGTH: Final = 200


def opaque_id(value: str) -> str:
    """``value`` if it is an opaque platform id (UUID or ``case-`` + UUID), else ``""``.

    Ids come from request paths and fields, which a client controls: an ID number typed into a
    student id field must not reach the audit log.
    """
    return value if SUBJECT_PATTERN.fullmatch(value) else ""


def actor_subject(principal: Principal) -> str:
    """The principal's subject, or the nil UUID when it is not one (it is also the Kafka key)."""
    return principal.subject if SUBJECT_PATTERN.fullmatch(principal.subject) else NIL_SUBJECT


def code(value: str) -> str:
    """A reason or purpose code as given, ``""`` when empty, or :data:`INVALID_CODE`."""
    if not value:
        return ""
    return value if CODE_PATTERN.fullmatch(value) else INVALID_CODE


def resource_type_code(value: str) -> str:
    if not value:
        return ""
    return value if RESOURCE_TYPE_PATTERN.fullmatch(value) else INVALID_CODE


def resource_of(request: Message) -> tuple[str, str]:
    """``(resource type, opaque id)`` named by a request message's ``student_id`` or ``case_id``
    field, or ``("", "")`` when it has neither."""
    fields = request.DESCRIPTOR.fields_by_name
    for field_name, resource_type in RESOURCE_FIELDS:
        field = fields.get(field_name)
        if field is not None and field.type == field.TYPE_STRING and not field.is_repeated:
            return resource_type, opaque_id(str(getattr(request, field_name)))
    return "", ""


def current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""


def access_audited(
    *,
    service: str,
    principal: Principal,
    action: str,
    resource_type: str,
    resource_id: str,
    outcome: audit_pb2.AccessOutcome.ValueType,
    reason: str,
    purpose: str = "",
    occurred_at: datetime | None = None,
) -> audit_pb2.AccessAudited:
    """A complete, stamped event (``meta.subject`` = the actor) ready for the outbox or Kafka."""
    if outcome not in (ALLOWED, DENIED):
        raise ValueError("an audit record is either ALLOWED or DENIED")
    subject = actor_subject(principal)
    event = audit_pb2.AccessAudited(
        actor_subject=subject,
        actor_roles=sorted(principal.roles),
        actor_org_unit=principal.org_unit,
        actor_client_id=principal.client_id,
        service=service,
        action=action[:MAX_ACTION_LENGTH],
        resource_type=resource_type_code(resource_type),
        resource_id=opaque_id(resource_id),
        outcome=outcome,
        reason=code(reason),
        purpose=code(purpose),
        trace_id=current_trace_id(),
    )
    stamp(event, service, subject, occurred_at=occurred_at)
    return event
