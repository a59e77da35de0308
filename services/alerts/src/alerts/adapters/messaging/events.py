"""Alerts' topics, and the translation of domain facts into what goes on them: protobuf events
(xinyu.events.v1) for the platform, JSON documents for partner units (receipts, locate
requests), all through the transactional outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adapters.db.tables import outbox
from alerts.domain import events as facts
from alerts.domain.model import (
    AlertStatus,
    CaseStepKind,
    Category,
    Level,
    ReviewKind,
    ReviewStatus,
    Severity,
    Source,
)
from xinyu.alerts.v1 import alerts_pb2 as api
from xinyu.events.v1 import alerts_pb2 as ev
from xinyu_core.messaging import OutboxWriter, stamp
from xinyu_core.messaging.events import validate_topic
from xinyu_core.messaging.outbox import (
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    PAYLOAD_TYPE_HEADER,
)

SERVICE = "alerts"

ALERT_RAISED = "alerts.alert.raised.v1"
ALERT_ESCALATED = "alerts.alert.escalated.v1"
ALERT_ACKNOWLEDGED = "alerts.alert.acknowledged.v1"
ALERT_CLOSED = "alerts.alert.closed.v1"
NOTIFICATION_REQUESTED = "alerts.notification.requested.v1"
CASE_OPENED = "alerts.case.opened.v1"
CASE_CLOSED = "alerts.case.closed.v1"
SCREENING_FLAGGED = "screening.result.flagged.v1"
SCREENING_CONFIRMED = "screening.level.confirmed.v1"

RECEIPT_PAYLOAD = "alert-receipt.v1"
LOCATE_PAYLOAD = "locate-request.v1"
JSON_CONTENT_TYPE = "application/json"


def inbound_topic(unit: str) -> str:
    return f"alerts.{unit}.reported.v1"


def receipt_topic(unit: str) -> str:
    return f"alerts.{unit}.receipt.v1"


def locate_topic(unit: str) -> str:
    return f"alerts.{unit}.locate-requested.v1"


def unit_of_topic(topic: str) -> str:
    """``alerts.unit-police-360702.reported.v1`` → ``unit-police-360702``."""
    parts = topic.split(".")
    if len(parts) != 4 or parts[0] != "alerts" or not parts[1].startswith("unit-"):
        raise ValueError("not a partner unit's inbound topic")
    return parts[1]


SEVERITY_PB = {
    Severity.LOW: api.SEVERITY_LOW,
    Severity.MEDIUM: api.SEVERITY_MEDIUM,
    Severity.HIGH: api.SEVERITY_HIGH,
    Severity.CRITICAL: api.SEVERITY_CRITICAL,
}
SEVERITY_OF_PB = {v: k for k, v in SEVERITY_PB.items()}
LEVEL_PB = {
    Level.CLASS: api.LEVEL_CLASS,
    Level.GRADE: api.LEVEL_GRADE,
    Level.SCHOOL: api.LEVEL_SCHOOL,
    Level.FAMILY: api.LEVEL_FAMILY,
    Level.COUNTY: api.LEVEL_COUNTY,
}
SOURCE_PB = {
    Source.SCREENING: api.ALERT_SOURCE_SCREENING,
    Source.REPORT: api.ALERT_SOURCE_REPORT,
    Source.UNIT: api.ALERT_SOURCE_UNIT,
    Source.REVIEW: api.ALERT_SOURCE_REVIEW,
}
CATEGORY_PB = {
    Category.FAMILY_CHANGE: api.CATEGORY_FAMILY_CHANGE,
    Category.CONFLICT: api.CATEGORY_CONFLICT,
    Category.WITHDRAWAL: api.CATEGORY_WITHDRAWAL,
    Category.SELF_HARM_SIGNS: api.CATEGORY_SELF_HARM_SIGNS,
    Category.SUICIDE_RISK: api.CATEGORY_SUICIDE_RISK,
    Category.VIOLENCE: api.CATEGORY_VIOLENCE,
    Category.ABUSE: api.CATEGORY_ABUSE,
    Category.BULLYING: api.CATEGORY_BULLYING,
    Category.MISSING: api.CATEGORY_MISSING,
    Category.ONLINE_RISK: api.CATEGORY_ONLINE_RISK,
    Category.SCREENING_FLAG: api.CATEGORY_SCREENING_FLAG,
    Category.OTHER: api.CATEGORY_OTHER,
}
CATEGORY_OF_PB = {v: k for k, v in CATEGORY_PB.items()}
STATUS_PB = {
    AlertStatus.OPEN: api.ALERT_STATUS_OPEN,
    AlertStatus.ACKNOWLEDGED: api.ALERT_STATUS_ACKNOWLEDGED,
    AlertStatus.CLOSED: api.ALERT_STATUS_CLOSED,
}
STATUS_OF_PB = {v: k for k, v in STATUS_PB.items()}
STEP_PB = {
    CaseStepKind.GUARDIAN_CONTACT: api.CASE_STEP_KIND_GUARDIAN_CONTACT,
    CaseStepKind.ASSESSMENT: api.CASE_STEP_KIND_ASSESSMENT,
    CaseStepKind.INTERVENTION: api.CASE_STEP_KIND_INTERVENTION,
    CaseStepKind.REFERRAL: api.CASE_STEP_KIND_REFERRAL,
    CaseStepKind.MONITORING: api.CASE_STEP_KIND_MONITORING,
    CaseStepKind.CLOSURE: api.CASE_STEP_KIND_CLOSURE,
}
STEP_OF_PB = {v: k for k, v in STEP_PB.items()}
REVIEW_KIND_PB = {
    ReviewKind.NO_MATCH: api.REVIEW_KIND_NO_MATCH,
    ReviewKind.UNCERTAIN: api.REVIEW_KIND_UNCERTAIN,
    ReviewKind.INVALID_IDENTIFIER: api.REVIEW_KIND_INVALID_IDENTIFIER,
    ReviewKind.MALFORMED: api.REVIEW_KIND_MALFORMED,
}
REVIEW_STATUS_PB = {
    ReviewStatus.OPEN: api.REVIEW_STATUS_OPEN,
    ReviewStatus.ATTACHED: api.REVIEW_STATUS_ATTACHED,
    ReviewStatus.DISMISSED: api.REVIEW_STATUS_DISMISSED,
}
REVIEW_STATUS_OF_PB = {v: k for k, v in REVIEW_STATUS_PB.items()}


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp_ = Timestamp()
    stamp_.FromDatetime(moment.astimezone(UTC))
    return stamp_


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_message(fact: facts.DomainEvent) -> tuple[str, Message] | None:
    """The platform event for a fact; None for facts that go to a partner unit as JSON."""
    if isinstance(fact, facts.AlertRaised):
        a = fact.alert
        message: Message = ev.AlertRaised(
            alert_id=str(a.alert_id),
            student_id=str(a.student.student_id),
            school_code=a.student.school_code,
            county_code=a.student.county_code,
            class_code=a.student.class_code,
            severity=SEVERITY_PB[a.severity],
            source=SOURCE_PB[a.source],
            category=CATEGORY_PB[a.category],
            level=LEVEL_PB[a.level] if a.level else api.LEVEL_UNSPECIFIED,
            raised_at=timestamp(a.raised_at),
        )
        return _stamped(ALERT_RAISED, message, str(a.student.student_id))
    if isinstance(fact, facts.AlertEscalated):
        a = fact.alert
        message = ev.AlertEscalated(
            alert_id=str(a.alert_id),
            student_id=str(a.student.student_id),
            from_level=LEVEL_PB[fact.from_level] if fact.from_level else api.LEVEL_UNSPECIFIED,
            to_level=LEVEL_PB[fact.to_level],
            escalated_at=timestamp(fact.at),
            reason=fact.reason,
        )
        return _stamped(ALERT_ESCALATED, message, str(a.student.student_id))
    if isinstance(fact, facts.AlertAcknowledged):
        a = fact.alert
        message = ev.AlertAcknowledged(
            alert_id=str(a.alert_id),
            student_id=str(a.student.student_id),
            level=LEVEL_PB[a.level] if a.level else api.LEVEL_UNSPECIFIED,
            acknowledged_at=timestamp(a.acknowledged_at),
        )
        return _stamped(ALERT_ACKNOWLEDGED, message, str(a.student.student_id))
    if isinstance(fact, facts.AlertClosed):
        a = fact.alert
        message = ev.AlertClosed(
            alert_id=str(a.alert_id),
            student_id=str(a.student.student_id),
            outcome=a.outcome,
            closed_at=timestamp(a.closed_at),
        )
        return _stamped(ALERT_CLOSED, message, str(a.student.student_id))
    if isinstance(fact, facts.NotificationRequested):
        n = fact.notification
        message = ev.NotificationRequested(
            notification_id=str(n.notification_id),
            alert_id=str(n.alert_id),
            recipient=n.recipient,
            role=n.role,
            level=LEVEL_PB[n.level],
            severity=SEVERITY_PB[fact.severity],
            category=CATEGORY_PB[fact.category],
            school_code=fact.school_code,
            acknowledge_by=timestamp(n.acknowledge_by),
        )
        return _stamped(NOTIFICATION_REQUESTED, message, str(n.student_id))
    if isinstance(fact, facts.CaseOpened):
        c = fact.case
        message = ev.CaseOpened(
            case_id=c.case_id,
            alert_id=str(c.alert_id),
            student_id=str(c.student.student_id),
            school_code=c.student.school_code,
            county_code=c.student.county_code,
            opened_at=timestamp(c.opened_at),
        )
        return _stamped(CASE_OPENED, message, c.case_id)
    if isinstance(fact, facts.CaseClosed):
        c = fact.case
        message = ev.CaseClosed(
            case_id=c.case_id,
            alert_id=str(c.alert_id),
            student_id=str(c.student.student_id),
            closed_at=timestamp(c.closed_at),
            steps=[STEP_PB[s.kind] for s in c.steps],
        )
        return _stamped(CASE_CLOSED, message, c.case_id)
    return None


def to_document(fact: facts.DomainEvent) -> tuple[str, uuid.UUID, dict[str, Any]] | None:
    """(topic, key, JSON document) for a partner unit; None for platform events."""
    if isinstance(fact, facts.Receipt):
        return (
            receipt_topic(fact.unit),
            fact.reference or fact.receipt_id,
            {
                "schema_version": RECEIPT_PAYLOAD,
                "receipt_id": str(fact.receipt_id),
                "external_id": fact.external_id or None,
                "status": fact.status.value,
                "reason": fact.reason or None,
                "reference": str(fact.reference) if fact.reference else None,
                "at": iso(fact.at),
            },
        )
    if isinstance(fact, facts.LocateRequested):
        r = fact.request
        return (
            locate_topic(r.unit),
            r.request_id,
            {
                "schema_version": LOCATE_PAYLOAD,
                "request_id": str(r.request_id),
                "school_code": r.student.school_code,
                "county_code": r.student.county_code,
                "requested_at": iso(r.requested_at),
                "last_seen_at": iso(r.last_seen_at),
                "details": r.details,
                "school_contact": r.school_contact,
            },
        )
    return None


def _stamped(topic: str, message: Message, subject: str) -> tuple[str, Message]:
    stamp(message, SERVICE, subject)
    return topic, message


class EventOutbox:
    """Writes facts to the outbox in the caller's transaction, all of a transaction's facts in
    one multi-row INSERT (a partner report writes up to eight): protobuf rows from the chassis's
    ``OutboxWriter.row`` (checked envelope, trace and content headers), JSON rows for units."""

    def __init__(
        self, writer: OutboxWriter, *, on_commit: Callable[[], None] | None = None
    ) -> None:
        self._writer = writer
        self._on_commit = on_commit

    @property
    def writer(self) -> OutboxWriter:
        return self._writer

    def row(self, fact: facts.DomainEvent) -> dict[str, Any]:
        platform = to_message(fact)
        if platform is not None:
            return self._writer.row(*platform)
        document = to_document(fact)
        if document is None:  # pragma: no cover - every fact maps to one or the other
            raise TypeError(f"no mapping for {type(fact).__name__}")
        topic, key, body = document
        event_id = uuid.uuid4()
        return {
            "event_id": event_id,
            "topic": validate_topic(topic),
            "key": str(key),
            "payload": json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            "headers": {
                CONTENT_TYPE_HEADER: JSON_CONTENT_TYPE,
                EVENT_ID_HEADER: str(event_id),
                PAYLOAD_TYPE_HEADER: body["schema_version"],
            },
        }

    async def write(self, session: AsyncSession, pending: list[facts.DomainEvent]) -> None:
        if not pending:
            return
        if not session.in_transaction():
            raise RuntimeError("events are written inside the caller's transaction")
        await session.execute(insert(outbox), [self.row(fact) for fact in pending])
        if self._on_commit is not None:
            # The relay publishes at once instead of on its next poll.
            on_commit = self._on_commit
            sa_event.listen(
                session.sync_session, "after_commit", lambda _session: on_commit(), once=True
            )
