"""Alerts, notifications, review tasks and crisis cases. Pure domain: no transport types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


def highest(*severities: Severity | None) -> Severity:
    present = [s for s in severities if s is not None]
    return max(present, key=lambda s: s.rank) if present else Severity.MEDIUM


class Level(StrEnum):
    """A level of the warning network (R6) and the county above it."""

    CLASS = "class"
    GRADE = "grade"
    SCHOOL = "school"
    FAMILY = "family"
    COUNTY = "county"


class Source(StrEnum):
    SCREENING = "screening"
    REPORT = "report"
    UNIT = "unit"
    REVIEW = "review"


class Category(StrEnum):
    FAMILY_CHANGE = "family_change"
    CONFLICT = "conflict"
    WITHDRAWAL = "withdrawal"
    SELF_HARM_SIGNS = "self_harm_signs"
    SUICIDE_RISK = "suicide_risk"
    VIOLENCE = "violence"
    ABUSE = "abuse"
    BULLYING = "bullying"
    MISSING = "missing"
    ONLINE_RISK = "online_risk"
    SCREENING_FLAG = "screening_flag"
    OTHER = "other"


# R23: reports of these may be made in confidence (the reporter hidden but for the case owner).
PROTECTABLE_CATEGORIES = frozenset({Category.VIOLENCE, Category.ABUSE, Category.BULLYING})


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


@dataclass(frozen=True)
class StudentPlace:
    """Where a student is now, as identity says at the moment of asking."""

    student_id: UUID
    school_code: str
    county_code: str
    class_code: str


@dataclass
class Alert:
    alert_id: UUID
    student: StudentPlace
    severity: Severity
    source: Source
    source_ref: str
    category: Category
    raised_at: datetime
    status: AlertStatus = AlertStatus.OPEN
    # Index into the policy's ladder for this severity; -1 before the first routing.
    level_index: int = -1
    level: Level | None = None
    acknowledge_by: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    closed_at: datetime | None = None
    outcome: str = ""
    protected: bool = False
    # Free text; the repository encrypts it at rest.
    description: str = ""
    # Keycloak subject of the reporting person; for a protected report the repository keeps it
    # encrypted and the domain shows it to the case owner only.
    reporter: str = ""
    case_id: str = ""
    # Partner report this alert came from ("unit-report" id), if any.
    unit_report_id: UUID | None = None


@dataclass(frozen=True)
class Routing:
    alert_id: UUID
    level: Level
    routed_at: datetime
    notified: int
    reason: str


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryAttempt:
    attempted_at: datetime
    delivered: bool
    error: str = ""


@dataclass
class Notification:
    notification_id: UUID
    alert_id: UUID
    student_id: UUID
    level: Level
    role: str
    recipient: str
    channel: str
    requested_at: datetime
    acknowledge_by: datetime | None
    status: NotificationStatus = NotificationStatus.PENDING
    delivered_at: datetime | None = None
    attempts: list[DeliveryAttempt] = field(default_factory=list)


@dataclass(frozen=True)
class Responder:
    username: str
    person_id: str
    level: Level
    role: str


@dataclass(frozen=True)
class Responders:
    student: StudentPlace
    people: tuple[Responder, ...]

    def at(self, level: Level, roles: frozenset[str]) -> list[Responder]:
        seen: set[str] = set()
        found: list[Responder] = []
        for person in self.people:
            if person.level is level and person.role in roles and person.username not in seen:
                seen.add(person.username)
                found.append(person)
        return found


@dataclass(frozen=True)
class Timer:
    alert_id: UUID
    level_index: int
    due_at: datetime


class MatchOutcome(StrEnum):
    EXACT = "exact"
    NONE = "none"
    UNCERTAIN = "uncertain"
    INVALID = "invalid"


@dataclass(frozen=True)
class Match:
    outcome: MatchOutcome
    student: StudentPlace | None = None
    reason: str = ""


class ReviewKind(StrEnum):
    NO_MATCH = "no_match"
    UNCERTAIN = "uncertain"
    INVALID_IDENTIFIER = "invalid_identifier"
    MALFORMED = "malformed"


REVIEW_KIND_OF_MATCH = {
    MatchOutcome.NONE: ReviewKind.NO_MATCH,
    MatchOutcome.UNCERTAIN: ReviewKind.UNCERTAIN,
    MatchOutcome.INVALID: ReviewKind.INVALID_IDENTIFIER,
}


class ReviewStatus(StrEnum):
    OPEN = "open"
    ATTACHED = "attached"
    DISMISSED = "dismissed"


@dataclass
class ReviewTask:
    task_id: UUID
    kind: ReviewKind
    unit: str
    # The unit's own code (the county or city it serves), for scope.
    scope_code: str
    external_id: str
    reason: str
    created_at: datetime
    # The raw message (the repository encrypts it).
    raw: bytes
    status: ReviewStatus = ReviewStatus.OPEN
    unit_report_id: UUID | None = None
    # For a malformed message: where it was read (the dedupe key of a redelivery).
    position: str = ""
    category: Category = Category.OTHER
    severity_hint: Severity | None = None
    description: str = ""
    alert_id: UUID | None = None
    resolution: str = ""
    resolved_by: str = ""
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class UnitReport:
    """A partner unit's report after schema validation. ``unit`` comes from the topic."""

    report_id: UUID
    unit: str
    external_id: str
    occurred_at: datetime
    category: Category
    severity_hint: Severity | None
    description: str
    student_number: str
    resident_id: str
    full_name: str
    contact_name: str
    contact_phone: str
    raw: bytes


class ReceiptStatus(StrEnum):
    RECEIVED = "received"
    MATCHED = "matched"
    IN_REVIEW = "in_review"
    REJECTED = "rejected"
    CLOSED = "closed"


class CaseStepKind(StrEnum):
    GUARDIAN_CONTACT = "guardian_contact"
    ASSESSMENT = "assessment"
    INTERVENTION = "intervention"
    REFERRAL = "referral"
    MONITORING = "monitoring"
    CLOSURE = "closure"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class CaseStep:
    step_id: UUID
    kind: CaseStepKind
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    note: str


@dataclass
class Case:
    case_id: str
    alert_id: UUID
    student: StudentPlace
    owner: str
    opened_at: datetime
    status: CaseStatus = CaseStatus.OPEN
    closed_at: datetime | None = None
    summary: str = ""
    steps: list[CaseStep] = field(default_factory=list)


@dataclass(frozen=True)
class LocateRequest:
    request_id: UUID
    student: StudentPlace
    unit: str
    requested_by: str
    requested_at: datetime
    last_seen_at: datetime | None
    details: str
    school_contact: str


def unit_code(unit: str) -> str:
    """The division a partner unit serves: ``unit-police-360702`` → ``360702``."""
    return unit.rsplit("-", 1)[-1]
