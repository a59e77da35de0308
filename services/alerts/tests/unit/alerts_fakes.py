"""In-memory fakes of alerts' ports, and helpers to build principals and students."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from alerts.domain.clock import ManualClock
from alerts.domain.events import DomainEvent
from alerts.domain.intake import Intake
from alerts.domain.model import (
    Alert,
    Case,
    CaseStep,
    DeliveryAttempt,
    Level,
    LocateRequest,
    Match,
    MatchOutcome,
    Notification,
    Responder,
    Responders,
    ReviewStatus,
    ReviewTask,
    Routing,
    StudentPlace,
    Timer,
    UnitReport,
)
from alerts.domain.policy import Policy
from alerts.domain.ports import AlertFilter, MatchRequest, ReportLink
from alerts.domain.routing import Router
from alerts.domain.service import AlertService
from xinyu_core.auth import Principal

COUNTY = "360702"
SCHOOL = "3607020001"
OTHER_SCHOOL = "3607020002"
CLASS = "3607020001-2024-01"


def principal(
    *roles: str, org_unit: str = SCHOOL, username: str = "someone", subject: str | None = None
) -> Principal:
    return Principal(
        subject=subject or str(uuid4()),
        username=username,
        roles=frozenset(roles),
        org_unit=org_unit,
        client_id="xinyu-web",
        token="token",
    )


SERVICE = principal("service", org_unit="", username="service-account-alerts")


def place(student_id: UUID | None = None, school: str = SCHOOL) -> StudentPlace:
    return StudentPlace(student_id or uuid4(), school, COUNTY, CLASS)


def responders_of(student: StudentPlace) -> tuple[Responder, ...]:
    return (
        Responder("head.teacher", "p1", Level.CLASS, "head_teacher"),
        Responder("subject.teacher", "p2", Level.CLASS, "subject_teacher"),
        Responder("mentor", "p3", Level.GRADE, "mentor"),
        Responder("psych.teacher", "p4", Level.SCHOOL, "psych_teacher"),
        Responder("school.admin", "p5", Level.SCHOOL, "school_admin"),
        Responder("guardian", "p6", Level.FAMILY, "guardian"),
        Responder("county.counsellor", "p7", Level.COUNTY, "county_counsellor"),
        Responder("county.admin", "p8", Level.COUNTY, "county_admin"),
    )


class FakeResponders:
    """identity's ListResponders: what it answers can change between calls."""

    def __init__(self) -> None:
        self.students: dict[UUID, Responders] = {}
        self.calls = 0

    def enrol(self, student: StudentPlace, people: tuple[Responder, ...] | None = None) -> None:
        self.students[student.student_id] = Responders(
            student, people if people is not None else responders_of(student)
        )

    async def responders(self, student_id: UUID) -> Responders | None:
        self.calls += 1
        return self.students.get(student_id)

    async def responders_many(self, student_ids: Sequence[UUID]) -> dict[UUID, Responders | None]:
        self.calls += 1
        return {student_id: self.students.get(student_id) for student_id in student_ids}


class FakeMatcher:
    def __init__(self) -> None:
        self.by_number: dict[str, Match] = {}
        self.batches: list[int] = []

    async def match(self, student_number: str, resident_id: str, full_name: str) -> Match:
        return self.by_number.get(
            student_number or resident_id, Match(MatchOutcome.NONE, reason="no student")
        )

    async def match_many(self, wanted: Sequence[MatchRequest]) -> list[Match]:
        self.batches.append(len(wanted))
        return [await self.match(w.student_number, w.resident_id, w.full_name) for w in wanted]


@dataclass
class Store:
    alerts: dict[UUID, Alert] = field(default_factory=dict)
    routings: list[Routing] = field(default_factory=list)
    notifications: dict[UUID, Notification] = field(default_factory=dict)
    timers: dict[UUID, Timer] = field(default_factory=dict)
    unit_reports: dict[tuple[str, str], UnitReport] = field(default_factory=dict)
    report_links: dict[UUID, tuple[UUID | None, UUID | None]] = field(default_factory=dict)
    reviews: dict[UUID, ReviewTask] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    locates: list[LocateRequest] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)
    audits: list[tuple[str, str, str]] = field(default_factory=list)


class FakeTx:
    """Works on a copy of the store; the copy replaces it only on commit."""

    def __init__(self, store: Store) -> None:
        self.s = store

    async def add_alert(self, alert: Alert) -> None:
        self.s.alerts[alert.alert_id] = copy.deepcopy(alert)

    async def add_alerts(self, added: Sequence[Alert]) -> None:
        for alert in added:
            await self.add_alert(alert)

    async def get_alert(self, alert_id: UUID, *, for_update: bool = False) -> Alert | None:
        found = self.s.alerts.get(alert_id)
        return copy.deepcopy(found) if found else None

    async def save_alert(self, alert: Alert) -> None:
        self.s.alerts[alert.alert_id] = copy.deepcopy(alert)

    async def list_alerts(self, wanted: AlertFilter) -> list[Alert]:
        found = [
            a
            for a in self.s.alerts.values()
            if (not wanted.school_code or a.student.school_code == wanted.school_code)
            and (not wanted.county_code or a.student.county_code == wanted.county_code)
            and (not wanted.statuses or a.status in wanted.statuses)
        ]
        return sorted(found, key=lambda a: a.raised_at, reverse=True)[: wanted.limit]

    async def add_routings(self, added: Sequence[Routing]) -> None:
        self.s.routings.extend(added)

    async def routings(self, alert_id: UUID) -> list[Routing]:
        return [r for r in self.s.routings if r.alert_id == alert_id]

    async def add_notifications(self, added: Sequence[Notification]) -> None:
        for notification in added:
            self.s.notifications[notification.notification_id] = copy.deepcopy(notification)

    async def notifications(self, alert_id: UUID) -> list[Notification]:
        return [copy.deepcopy(n) for n in self.s.notifications.values() if n.alert_id == alert_id]

    async def get_notifications(
        self, notification_ids: Sequence[UUID], *, for_update: bool = False
    ) -> dict[UUID, Notification]:
        return {
            i: copy.deepcopy(self.s.notifications[i])
            for i in notification_ids
            if i in self.s.notifications
        }

    async def record_attempts(
        self, attempted: Sequence[tuple[Notification, DeliveryAttempt]]
    ) -> None:
        for notification, _ in attempted:
            self.s.notifications[notification.notification_id] = copy.deepcopy(notification)

    async def set_timer(self, timer: Timer) -> None:
        self.s.timers[timer.alert_id] = timer

    async def set_timers(self, timers: Sequence[Timer]) -> None:
        for timer in timers:
            await self.set_timer(timer)

    async def clear_timer(self, alert_id: UUID) -> None:
        self.s.timers.pop(alert_id, None)

    async def claim_due_timers(self, now: datetime, limit: int) -> list[Timer]:
        due = sorted((t for t in self.s.timers.values() if t.due_at <= now), key=lambda t: t.due_at)
        return due[:limit]

    async def record_unit_report(self, report: UnitReport) -> bool:
        key = (report.unit, report.external_id)
        if key in self.s.unit_reports:
            return False
        self.s.unit_reports[key] = report
        return True

    async def record_unit_reports(self, reports: Sequence[UnitReport]) -> set[UUID]:
        return {r.report_id for r in reports if await self.record_unit_report(r)}

    async def link_unit_reports(self, links: Sequence[ReportLink]) -> None:
        for link in links:
            await self.link_unit_report(
                link.report_id, alert_id=link.alert_id, review_task_id=link.review_task_id
            )

    async def link_unit_report(
        self, report_id: UUID, *, alert_id: UUID | None, review_task_id: UUID | None
    ) -> None:
        old = self.s.report_links.get(report_id, (None, None))
        self.s.report_links[report_id] = (alert_id or old[0], review_task_id or old[1])

    async def unit_report_of_alert(self, alert_id: UUID) -> tuple[str, str] | None:
        for report in self.s.unit_reports.values():
            if self.s.report_links.get(report.report_id, (None, None))[0] == alert_id:
                return report.unit, report.external_id
        return None

    async def add_review(self, task: ReviewTask) -> bool:
        if task.position and any(t.position == task.position for t in self.s.reviews.values()):
            return False
        self.s.reviews[task.task_id] = copy.deepcopy(task)
        return True

    async def add_reviews(self, tasks: Sequence[ReviewTask]) -> None:
        for task in tasks:
            await self.add_review(task)

    async def get_review(self, task_id: UUID, *, for_update: bool = False) -> ReviewTask | None:
        found = self.s.reviews.get(task_id)
        return copy.deepcopy(found) if found else None

    async def save_review(self, task: ReviewTask) -> None:
        self.s.reviews[task.task_id] = copy.deepcopy(task)

    async def list_reviews(
        self, scope_codes: Sequence[str] | None, statuses: Sequence[ReviewStatus], limit: int
    ) -> list[ReviewTask]:
        return [
            copy.deepcopy(t)
            for t in self.s.reviews.values()
            if t.status in statuses and (scope_codes is None or t.scope_code in scope_codes)
        ][:limit]

    async def add_case(self, case: Case) -> None:
        self.s.cases[case.case_id] = copy.deepcopy(case)

    async def add_cases(self, added: Sequence[Case]) -> None:
        for case in added:
            await self.add_case(case)

    async def get_case(self, case_id: str, *, for_update: bool = False) -> Case | None:
        found = self.s.cases.get(case_id)
        return copy.deepcopy(found) if found else None

    async def save_case(self, case: Case) -> None:
        steps = self.s.cases[case.case_id].steps
        self.s.cases[case.case_id] = copy.deepcopy(case)
        self.s.cases[case.case_id].steps = steps

    async def add_case_step(self, case_id: str, step: CaseStep) -> None:
        self.s.cases[case_id].steps.append(step)

    async def add_locate_request(self, request: LocateRequest) -> None:
        self.s.locates.append(request)

    async def emit(self, event: DomainEvent) -> None:
        self.s.events.append(event)

    async def audit_read(
        self, principal: Principal, action: str, resource_type: str, resource_id: str
    ) -> None:
        self.s.audits.append((action, resource_type, resource_id))


class FakeTransactions:
    def __init__(self) -> None:
        self.store = Store()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeTx]:
        working = copy.deepcopy(self.store)
        yield FakeTx(working)
        self.store = working  # committed only when the block ends without an exception


@dataclass
class World:
    clock: ManualClock
    responders: FakeResponders
    matcher: FakeMatcher
    transactions: FakeTransactions
    router: Router
    intake: Intake
    service: AlertService

    @property
    def store(self) -> Store:
        return self.transactions.store


def world(policy: Policy | None = None) -> World:
    clock = ManualClock()
    responders = FakeResponders()
    matcher = FakeMatcher()
    transactions = FakeTransactions()
    router = Router(policy or Policy.load(), responders, clock, channel="inbox")
    intake = Intake(router, matcher, clock)
    service = AlertService(
        transactions,
        router,
        intake,
        responders,
        clock,
        locate_units={COUNTY: "unit-police-360702"},
    )
    return World(clock, responders, matcher, transactions, router, intake, service)
