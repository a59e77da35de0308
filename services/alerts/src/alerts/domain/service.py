"""The use cases behind AlertService's RPCs: people report, read, acknowledge and close alerts,
review what partners sent, run crisis cases (R9–R11) and ask police for help (R12)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID, uuid4

from alerts.domain import access
from alerts.domain.events import (
    AlertAcknowledged,
    AlertClosed,
    CaseClosed,
    CaseOpened,
    LocateRequested,
)
from alerts.domain.intake import Intake
from alerts.domain.model import (
    PROTECTABLE_CATEGORIES,
    Alert,
    AlertStatus,
    Case,
    CaseStatus,
    CaseStep,
    CaseStepKind,
    Category,
    Level,
    LocateRequest,
    Notification,
    ReviewStatus,
    ReviewTask,
    Routing,
    Severity,
    Source,
)
from alerts.domain.ports import AlertFilter, Clock, ResponderDirectory, Transactions, Tx
from alerts.domain.routing import Router, new_case_id
from xinyu_core.auth import Principal
from xinyu_core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyu_core.scope import CITY_CODE

MAX_TEXT = 4000
OUTCOME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class NewReport:
    student_id: str
    category: Category | None
    severity: Severity | None
    description: str
    protected: bool
    observed_at: datetime | None


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    routing: list[Routing]
    notifications: list[Notification]


@dataclass(frozen=True)
class CaseView:
    case: Case
    protected_reporter: str


@dataclass(frozen=True)
class Resolution:
    student_id: str = ""
    dismiss_reason: str = ""
    severity: Severity | None = None


def parse_uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as error:
        raise InvalidArgument(field, "must be a UUID") from error


def _code(value: str, field: str) -> str:
    text = value.strip().lower()
    if not text or len(text) > 64 or not set(text) <= OUTCOME_CHARS:
        raise InvalidArgument(field, "must be a short code of a-z, 0-9, '-' and '_'")
    return text


def _text(value: str, field: str, *, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidArgument(field, "is required")
    if len(text) > MAX_TEXT:
        raise InvalidArgument(field, f"at most {MAX_TEXT} characters")
    return text


class AlertService:
    def __init__(
        self,
        transactions: Transactions,
        router: Router,
        intake: Intake,
        responders: ResponderDirectory,
        clock: Clock,
        *,
        locate_units: dict[str, str],
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._tx = transactions
        self._router = router
        self._intake = intake
        self._responders = responders
        self._clock = clock
        # county code → the police unit that helps locate students there.
        self._locate_units = locate_units
        self._new_id = new_id

    # --- alerts ----------------------------------------------------------------------------

    async def raise_report(self, principal: Principal, report: NewReport) -> Alert:
        principal.require_any_role(*access.REPORTERS)
        student_id = parse_uuid(report.student_id, "student_id")
        if report.category is None:
            raise InvalidArgument("category", "is required")
        description = _text(report.description, "description", required=True)
        if report.protected and report.category not in PROTECTABLE_CATEGORIES:
            raise InvalidArgument(
                "protected_report", "only reports of violence, abuse or bullying are protected"
            )
        directory = await self._responders.responders(student_id)
        if directory is None:
            raise NotFound("no such student")
        access.require_reporter(
            principal, directory.student, [p.username for p in directory.people]
        )
        severity = self._router.policy.severity_for(report.category, report.severity)
        alert = Alert(
            alert_id=self._new_id(),
            student=directory.student,
            severity=severity,
            source=Source.REPORT,
            source_ref="report",
            category=report.category,
            raised_at=self._clock.now(),
            protected=report.protected,
            description=description,
            reporter=principal.subject,
        )
        async with self._tx() as tx:
            await self._router.raise_alert(tx, alert)
        return alert

    async def get_alert(self, principal: Principal, alert_id: str) -> AlertView:
        wanted = parse_uuid(alert_id, "alert_id")
        async with self._tx() as tx:
            alert = await tx.get_alert(wanted)
            if alert is None:
                raise NotFound("no such alert")
            notifications = await tx.notifications(wanted)
            access.require_alert_reader(principal, alert, [n.recipient for n in notifications])
            case = await tx.get_case(alert.case_id) if alert.case_id else None
            routing = await tx.routings(wanted)
            await tx.audit_read(principal, "alerts.get-alert", "alert", str(wanted))
        if alert.protected and not access.may_see_protected_reporter(principal, case):
            alert = replace(alert, reporter="")
        return AlertView(alert, routing, notifications)

    async def list_alerts(
        self,
        principal: Principal,
        org_unit: str,
        statuses: Sequence[AlertStatus],
        student_id: str,
        limit: int,
        after: tuple[datetime, UUID] | None,
    ) -> list[Alert]:
        principal.require_any_role(*access.HANDLERS, "county_admin")
        unit = org_unit or principal.org_unit
        wanted = AlertFilter(
            statuses=tuple(statuses),
            limit=max(1, min(limit or 50, 200)),
            after=after,
            student_id=parse_uuid(student_id, "student_id") if student_id else None,
        )
        if principal.is_service or (
            principal.has_any_role("city_admin") and principal.org_unit == CITY_CODE
        ):
            if unit != CITY_CODE:
                wanted = _unit_filter(wanted, unit)
        elif principal.has_any_role("county_admin", "county_counsellor"):
            if not unit.startswith(principal.org_unit):
                raise PermissionDenied("outside the caller's scope")
            wanted = _unit_filter(wanted, unit)
        elif principal.has_any_role("school_admin", "psych_teacher"):
            if unit != principal.org_unit:
                raise PermissionDenied("outside the caller's scope")
            wanted = replace(wanted, school_code=unit)
        else:
            raise PermissionDenied("outside the caller's scope")
        async with self._tx() as tx:
            alerts = await tx.list_alerts(wanted)
        return [replace(a, description="", reporter="") for a in alerts]

    async def acknowledge(self, principal: Principal, alert_id: str) -> Alert:
        wanted = parse_uuid(alert_id, "alert_id")
        async with self._tx() as tx:
            alert = await tx.get_alert(wanted, for_update=True)
            if alert is None:
                raise NotFound("no such alert")
            notifications = await tx.notifications(wanted)
            access.require_acknowledger(principal, alert, [n.recipient for n in notifications])
            if alert.status is AlertStatus.OPEN:
                alert.status = AlertStatus.ACKNOWLEDGED
                alert.acknowledged_at = self._clock.now()
                alert.acknowledged_by = principal.subject
                alert.acknowledge_by = None
                await tx.clear_timer(wanted)
                await tx.save_alert(alert)
                await tx.emit(AlertAcknowledged(alert))
        return replace(alert, description="", reporter="")

    async def close_alert(self, principal: Principal, alert_id: str, outcome: str) -> Alert:
        wanted = parse_uuid(alert_id, "alert_id")
        code = _code(outcome, "outcome")
        async with self._tx() as tx:
            alert = await tx.get_alert(wanted, for_update=True)
            if alert is None:
                raise NotFound("no such alert")
            access.require_handler(principal, alert.student)
            if alert.status is not AlertStatus.CLOSED:
                now = self._clock.now()
                if alert.status is AlertStatus.OPEN:
                    alert.acknowledged_at = now
                    alert.acknowledged_by = principal.subject
                alert.status = AlertStatus.CLOSED
                alert.closed_at = now
                alert.outcome = code
                alert.acknowledge_by = None
                await tx.clear_timer(wanted)
                await tx.save_alert(alert)
                await tx.emit(AlertClosed(alert))
                partner = await tx.unit_report_of_alert(wanted)
                if partner is not None:
                    await tx.emit(self._intake.closed_receipt(partner[0], partner[1], code))
        return replace(alert, description="", reporter="")

    async def notifications(self, principal: Principal, alert_id: str) -> list[Notification]:
        return (await self.get_alert(principal, alert_id)).notifications

    # --- review tasks ----------------------------------------------------------------------

    async def list_reviews(
        self, principal: Principal, statuses: Sequence[ReviewStatus], limit: int
    ) -> list[ReviewTask]:
        scopes = access.review_scopes(principal)
        async with self._tx() as tx:
            tasks = await tx.list_reviews(
                scopes, tuple(statuses) or (ReviewStatus.OPEN,), max(1, min(limit or 50, 200))
            )
        return [replace(t, raw=b"", description="") for t in tasks]

    async def resolve_review(
        self, principal: Principal, task_id: str, resolution: Resolution
    ) -> tuple[ReviewTask, Alert | None]:
        wanted = parse_uuid(task_id, "task_id")
        if bool(resolution.student_id) == bool(resolution.dismiss_reason):
            raise InvalidArgument("resolution", "attach to a student or dismiss with a reason")
        student_id = (
            parse_uuid(resolution.student_id, "student_id") if resolution.student_id else None
        )
        reason = _code(resolution.dismiss_reason, "dismiss_reason") if not student_id else ""
        directory = await self._responders.responders(student_id) if student_id else None
        if student_id and directory is None:
            raise NotFound("no such student")
        async with self._tx() as tx:
            task = await tx.get_review(wanted, for_update=True)
            if task is None:
                raise NotFound("no such review task")
            access.require_reviewer(principal, task)
            if task.status is not ReviewStatus.OPEN:
                raise FailedPrecondition("the review task is already resolved")
            now = self._clock.now()
            alert: Alert | None = None
            if directory is not None:
                severity = self._router.policy.unit_severity(
                    task.category, resolution.severity or task.severity_hint
                )
                alert = Alert(
                    alert_id=self._new_id(),
                    student=directory.student,
                    severity=severity,
                    source=Source.REVIEW,
                    source_ref=task.unit,
                    category=task.category,
                    raised_at=now,
                    description=task.description,
                    unit_report_id=task.unit_report_id,
                )
                await self._router.raise_alert(tx, alert)
                if task.unit_report_id is not None:
                    await tx.link_unit_report(
                        task.unit_report_id, alert_id=alert.alert_id, review_task_id=task.task_id
                    )
                task.status = ReviewStatus.ATTACHED
                task.alert_id = alert.alert_id
                task.resolution = "attached"
            else:
                task.status = ReviewStatus.DISMISSED
                task.resolution = reason
                if task.external_id:
                    await tx.emit(self._intake.closed_receipt(task.unit, task.external_id, reason))
            task.resolved_by = principal.subject
            task.resolved_at = now
            await tx.save_review(task)
            await tx.audit_read(principal, "alerts.resolve-review", "review-task", str(wanted))
        return task, alert

    # --- crisis cases (R9–R11) -------------------------------------------------------------

    async def open_case(self, principal: Principal, alert_id: str, owner: str) -> Case:
        wanted = parse_uuid(alert_id, "alert_id")
        async with self._tx() as tx:
            alert = await tx.get_alert(wanted, for_update=True)
            if alert is None:
                raise NotFound("no such alert")
            access.require_handler(principal, alert.student)
            if alert.case_id:
                existing = await tx.get_case(alert.case_id, for_update=True)
                if existing is not None and existing.owner:
                    raise FailedPrecondition("the alert already has a case")
                if existing is not None:  # opened by policy with nobody to own it: take it
                    existing.owner = owner.strip() or principal.username
                    await tx.save_case(existing)
                    return existing
            case = Case(
                case_id=new_case_id(),
                alert_id=alert.alert_id,
                student=alert.student,
                owner=owner.strip() or principal.username,
                opened_at=self._clock.now(),
            )
            alert.case_id = case.case_id
            await tx.add_case(case)
            await tx.save_alert(alert)
            await tx.emit(CaseOpened(case))
        return case

    async def record_step(
        self,
        principal: Principal,
        case_id: str,
        kind: CaseStepKind | None,
        note: str,
        occurred_at: datetime | None,
    ) -> Case:
        if kind is None:
            raise InvalidArgument("kind", "is required")
        if kind is CaseStepKind.CLOSURE:
            raise InvalidArgument("kind", "a case is closed with CloseCase and a summary")
        text = _text(note, "note", required=True)
        async with self._tx() as tx:
            case = await self._case_for_writing(tx, principal, case_id)
            if not case.steps and kind is not CaseStepKind.GUARDIAN_CONTACT:
                raise FailedPrecondition("the guardians are contacted first (R9)")
            step = CaseStep(
                step_id=self._new_id(),
                kind=kind,
                actor=principal.subject,
                occurred_at=occurred_at or self._clock.now(),
                recorded_at=self._clock.now(),
                note=text,
            )
            await tx.add_case_step(case.case_id, step)
            case.steps.append(step)
        return case

    async def close_case(self, principal: Principal, case_id: str, summary: str) -> Case:
        text = _text(summary, "summary", required=True)
        async with self._tx() as tx:
            case = await self._case_for_writing(tx, principal, case_id)
            if not case.steps:
                raise FailedPrecondition("the guardians are contacted first (R9)")
            now = self._clock.now()
            step = CaseStep(self._new_id(), CaseStepKind.CLOSURE, principal.subject, now, now, text)
            await tx.add_case_step(case.case_id, step)
            case.steps.append(step)
            case.status = CaseStatus.CLOSED
            case.closed_at = now
            case.summary = text
            await tx.save_case(case)
            await tx.emit(CaseClosed(case))
        return case

    async def get_case(self, principal: Principal, case_id: str) -> CaseView:
        async with self._tx() as tx:
            case = await tx.get_case(_case_id(case_id))
            if case is None:
                raise NotFound("no such case")
            access.require_case_reader(principal, case)
            alert = await tx.get_alert(case.alert_id)
            await tx.audit_read(principal, "alerts.get-case", "case", case.case_id)
        reporter = ""
        if (
            alert is not None
            and alert.protected
            and access.may_see_protected_reporter(principal, case)
        ):
            reporter = alert.reporter
        return CaseView(case, reporter)

    async def _case_for_writing(self, tx: Tx, principal: Principal, case_id: str) -> Case:
        case = await tx.get_case(_case_id(case_id), for_update=True)
        if case is None:
            raise NotFound("no such case")
        access.require_case_writer(principal, case)
        if case.status is CaseStatus.CLOSED:
            raise FailedPrecondition("the case is closed")
        return case

    # --- locating a missing student (R12) --------------------------------------------------

    async def request_locate_help(
        self,
        principal: Principal,
        student_id: str,
        unit: str,
        last_seen_at: datetime | None,
        details: str,
        school_contact: str,
    ) -> LocateRequest:
        principal.require_any_role(*access.LOCATE_REQUESTERS)
        wanted = parse_uuid(student_id, "student_id")
        text = _text(details, "details", required=True)
        contact = _text(school_contact, "school_contact", required=True)
        directory = await self._responders.responders(wanted)
        if directory is None:
            raise NotFound("no such student")
        if not access.in_scope(principal, directory.student):
            raise PermissionDenied("outside the caller's scope")
        target = unit.strip() or self._locate_units.get(directory.student.county_code, "")
        if target not in self._locate_units.values():
            raise InvalidArgument("unit", "no police unit takes locate requests for this county")
        request = LocateRequest(
            request_id=self._new_id(),
            student=directory.student,
            unit=target,
            requested_by=principal.subject,
            requested_at=self._clock.now(),
            last_seen_at=last_seen_at,
            details=text,
            school_contact=contact,
        )
        async with self._tx() as tx:
            await tx.add_locate_request(request)
            await tx.emit(LocateRequested(request))
        return request


def _unit_filter(wanted: AlertFilter, unit: str) -> AlertFilter:
    # County codes are 6 digits; school codes are longer and start with their county's.
    if len(unit) == 6:
        return replace(wanted, county_code=unit)
    return replace(wanted, school_code=unit)


def _case_id(value: str) -> str:
    if not value.startswith("case-"):
        raise InvalidArgument("case_id", "must be 'case-' + UUID")
    parse_uuid(value.removeprefix("case-"), "case_id")
    return value


__all__ = ["AlertService", "AlertView", "CaseView", "Level", "NewReport", "Resolution"]
