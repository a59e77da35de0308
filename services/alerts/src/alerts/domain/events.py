"""Facts alerts announces. The messaging adapter turns each into a protobuf event on alerts'
topics, or a JSON document on a partner unit's topic; the domain does not know which."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from alerts.domain.model import (
    Alert,
    Case,
    Category,
    Level,
    LocateRequest,
    Notification,
    ReceiptStatus,
    Severity,
)


@dataclass(frozen=True)
class AlertRaised:
    alert: Alert


@dataclass(frozen=True)
class AlertEscalated:
    alert: Alert
    from_level: Level | None
    to_level: Level
    at: datetime
    reason: str


@dataclass(frozen=True)
class AlertAcknowledged:
    alert: Alert


@dataclass(frozen=True)
class AlertClosed:
    alert: Alert


@dataclass(frozen=True)
class NotificationRequested:
    notification: Notification
    severity: Severity
    category: Category
    school_code: str


@dataclass(frozen=True)
class CaseOpened:
    case: Case


@dataclass(frozen=True)
class CaseClosed:
    case: Case


@dataclass(frozen=True)
class Receipt:
    """What happened to a partner unit's report, for its receipt topic."""

    receipt_id: UUID
    unit: str
    external_id: str
    status: ReceiptStatus
    at: datetime
    # A code, never a value (e.g. "no-match", "schema: missing external_id").
    reason: str = ""
    # The platform's reference the unit can quote back (the report id).
    reference: UUID | None = None


@dataclass(frozen=True)
class LocateRequested:
    request: LocateRequest


DomainEvent = (
    AlertRaised
    | AlertEscalated
    | AlertAcknowledged
    | AlertClosed
    | NotificationRequested
    | CaseOpened
    | CaseClosed
    | Receipt
    | LocateRequested
)
