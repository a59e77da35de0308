"""What alerts' use cases need from the outside world. Adapters implement these; unit tests
use in-memory fakes (tests/unit/fakes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from alerts.domain.events import DomainEvent
from alerts.domain.model import (
    Alert,
    AlertStatus,
    Case,
    CaseStep,
    DeliveryAttempt,
    LocateRequest,
    Match,
    Notification,
    Responders,
    ReviewStatus,
    ReviewTask,
    Routing,
    Timer,
    UnitReport,
)
from xinyu_core.auth import Principal


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class MatchRequest:
    student_number: str
    resident_id: str
    full_name: str


@dataclass(frozen=True)
class ReportLink:
    """What a partner's report became: an alert or a review task."""

    report_id: UUID
    alert_id: UUID | None = None
    review_task_id: UUID | None = None


class StudentMatcher(Protocol):
    """identity's MatchStudent, as alerts' own service client."""

    async def match(self, student_number: str, resident_id: str, full_name: str) -> Match: ...

    async def match_many(self, wanted: Sequence[MatchRequest]) -> list[Match]:
        """One answer per request, in order (identity's BatchMatchStudents)."""
        ...


class ResponderDirectory(Protocol):
    """identity's ListResponders, asked at the moment of routing; it also says where the
    student is now. None: identity knows no such student."""

    async def responders(self, student_id: UUID) -> Responders | None: ...

    async def responders_many(self, student_ids: Sequence[UUID]) -> dict[UUID, Responders | None]:
        """The same for several students in one call (identity's BatchListResponders)."""
        ...


@dataclass(frozen=True)
class AlertFilter:
    school_code: str = ""
    county_code: str = ""
    student_id: UUID | None = None
    statuses: tuple[AlertStatus, ...] = ()
    limit: int = 50
    # Keyset cursor: (raised_at, alert_id) of the last row of the previous page.
    after: tuple[datetime, UUID] | None = None


class Tx(Protocol):
    """One database transaction: every change in a use case commits together with its events."""

    # alerts
    async def add_alert(self, alert: Alert) -> None: ...
    async def add_alerts(self, added: Sequence[Alert]) -> None: ...
    async def get_alert(self, alert_id: UUID, *, for_update: bool = False) -> Alert | None: ...
    async def save_alert(self, alert: Alert) -> None: ...
    async def list_alerts(self, wanted: AlertFilter) -> list[Alert]: ...
    async def add_routings(self, added: Sequence[Routing]) -> None: ...
    async def routings(self, alert_id: UUID) -> list[Routing]: ...

    # notifications
    async def add_notifications(self, added: Sequence[Notification]) -> None: ...
    async def notifications(self, alert_id: UUID) -> list[Notification]: ...
    async def get_notifications(
        self, notification_ids: Sequence[UUID], *, for_update: bool = False
    ) -> dict[UUID, Notification]: ...
    async def record_attempts(
        self, attempted: Sequence[tuple[Notification, DeliveryAttempt]]
    ) -> None:
        """Each notification's status and delivery time, and the one attempt just made."""
        ...

    # escalation timers
    async def set_timer(self, timer: Timer) -> None: ...
    async def set_timers(self, timers: Sequence[Timer]) -> None: ...
    async def clear_timer(self, alert_id: UUID) -> None: ...
    async def claim_due_timers(self, now: datetime, limit: int) -> list[Timer]: ...

    # partner reports and review tasks
    async def record_unit_report(self, report: UnitReport) -> bool:
        """False if this unit already sent this external id (the dedupe rule)."""
        ...

    async def record_unit_reports(self, reports: Sequence[UnitReport]) -> set[UUID]:
        """The batch form: the report ids that were new."""
        ...

    async def link_unit_report(
        self, report_id: UUID, *, alert_id: UUID | None, review_task_id: UUID | None
    ) -> None: ...
    async def link_unit_reports(self, links: Sequence[ReportLink]) -> None: ...
    async def unit_report_of_alert(self, alert_id: UUID) -> tuple[str, str] | None:
        """(unit, external_id) of the partner report behind an alert, if any."""
        ...

    async def add_review(self, task: ReviewTask) -> bool:
        """False if a task for the same position already exists (a redelivered message)."""
        ...

    async def add_reviews(self, tasks: Sequence[ReviewTask]) -> None:
        """Review tasks of partner reports (no position: they cannot repeat)."""
        ...

    async def get_review(self, task_id: UUID, *, for_update: bool = False) -> ReviewTask | None: ...
    async def save_review(self, task: ReviewTask) -> None: ...
    async def list_reviews(
        self, scope_codes: Sequence[str] | None, statuses: Sequence[ReviewStatus], limit: int
    ) -> list[ReviewTask]: ...

    # cases
    async def add_case(self, case: Case) -> None: ...
    async def add_cases(self, added: Sequence[Case]) -> None: ...
    async def get_case(self, case_id: str, *, for_update: bool = False) -> Case | None: ...
    async def save_case(self, case: Case) -> None: ...
    async def add_case_step(self, case_id: str, step: CaseStep) -> None: ...

    # locate requests (R12)
    async def add_locate_request(self, request: LocateRequest) -> None: ...

    # events (transactional outbox; the adapter chooses topic and encoding)
    async def emit(self, event: DomainEvent) -> None: ...

    async def audit_read(
        self, principal: Principal, action: str, resource_type: str, resource_id: str
    ) -> None:
        """An AccessAudited record of a sensitive read, in this transaction."""
        ...


class Transactions(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[Tx]: ...


class Denials(Protocol):
    """Records a refusal (never raises)."""

    async def denied(
        self, principal: Principal, action: str, resource_type: str, resource_id: str, reason: str
    ) -> None: ...
