"""PostgreSQL implementation of the domain's ``Tx``: one session, one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerts.adapters.db.tables import (
    alerts,
    case_steps,
    cases,
    delivery_attempts,
    escalation_timers,
    locate_requests,
    notifications,
    review_tasks,
    routings,
    unit_reports,
)
from alerts.adapters.messaging.events import EventOutbox
from alerts.domain.events import DomainEvent
from alerts.domain.model import (
    Alert,
    AlertStatus,
    Case,
    CaseStatus,
    CaseStep,
    CaseStepKind,
    Category,
    DeliveryAttempt,
    Level,
    LocateRequest,
    Notification,
    NotificationStatus,
    ReviewKind,
    ReviewStatus,
    ReviewTask,
    Routing,
    Severity,
    Source,
    StudentPlace,
    Timer,
    UnitReport,
)
from alerts.domain.ports import AlertFilter, ReportLink
from xinyu_core.audit import AuditRecorder
from xinyu_core.auth import Principal
from xinyu_core.crypto import FieldCipher

AD_DESCRIPTION = b"alerts.description"
AD_REPORTER = b"alerts.reporter"
AD_RAW = b"review_tasks.raw"
AD_REVIEW_DESCRIPTION = b"review_tasks.description"
AD_CONTACT = b"unit_reports.contact"
AD_SUMMARY = b"cases.summary"
AD_NOTE = b"case_steps.note"
AD_DETAILS = b"locate_requests.details"


class SqlTx:
    def __init__(
        self,
        session: AsyncSession,
        cipher: FieldCipher,
        events: EventOutbox,
        audit: AuditRecorder | None,
    ) -> None:
        self._session = session
        self._cipher = cipher
        self._events = events
        self._audit = audit
        self._pending: list[DomainEvent] = []

    @property
    def session(self) -> AsyncSession:
        return self._session

    def _enc(self, text: str, ad: bytes) -> bytes | None:
        return self._cipher.encrypt_text(text, ad) if text else None

    def _dec(self, value: bytes | None, ad: bytes) -> str:
        return self._cipher.decrypt_text(value, ad) if value else ""

    # --- alerts ----------------------------------------------------------------------------

    def _alert_values(self, alert: Alert) -> dict[str, Any]:
        return {
            "student_id": alert.student.student_id,
            "school_code": alert.student.school_code,
            "county_code": alert.student.county_code,
            "class_code": alert.student.class_code,
            "severity": alert.severity.value,
            "source": alert.source.value,
            "source_ref": alert.source_ref,
            "category": alert.category.value,
            "status": alert.status.value,
            "level_index": alert.level_index,
            "level": alert.level.value if alert.level else None,
            "raised_at": alert.raised_at,
            "acknowledge_by": alert.acknowledge_by,
            "acknowledged_at": alert.acknowledged_at,
            "acknowledged_by": alert.acknowledged_by,
            "closed_at": alert.closed_at,
            "outcome": alert.outcome,
            "protected": alert.protected,
            "case_id": alert.case_id or None,
            "unit_report_id": alert.unit_report_id,
        }

    async def add_alert(self, alert: Alert) -> None:
        await self.add_alerts([alert])

    async def add_alerts(self, added: Sequence[Alert]) -> None:
        if not added:
            return
        await self._session.execute(
            insert(alerts),
            [
                {
                    "alert_id": alert.alert_id,
                    "description_enc": self._enc(alert.description, AD_DESCRIPTION),
                    "reporter": "" if alert.protected else alert.reporter,
                    "reporter_enc": (
                        self._enc(alert.reporter, AD_REPORTER) if alert.protected else None
                    ),
                    **self._alert_values(alert),
                }
                for alert in added
            ],
        )

    async def save_alert(self, alert: Alert) -> None:
        await self._session.execute(
            update(alerts)
            .where(alerts.c.alert_id == alert.alert_id)
            .values(**self._alert_values(alert))
        )

    async def get_alert(self, alert_id: UUID, *, for_update: bool = False) -> Alert | None:
        statement = select(alerts).where(alerts.c.alert_id == alert_id)
        if for_update:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return None if row is None else self._alert(row, details=True)

    def _alert(self, row: Any, *, details: bool) -> Alert:
        reporter = row.reporter
        if row.protected:
            reporter = self._dec(row.reporter_enc, AD_REPORTER) if details else ""
        return Alert(
            alert_id=row.alert_id,
            student=StudentPlace(row.student_id, row.school_code, row.county_code, row.class_code),
            severity=Severity(row.severity),
            source=Source(row.source),
            source_ref=row.source_ref,
            category=Category(row.category),
            raised_at=row.raised_at,
            status=AlertStatus(row.status),
            level_index=row.level_index,
            level=Level(row.level) if row.level else None,
            acknowledge_by=row.acknowledge_by,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            closed_at=row.closed_at,
            outcome=row.outcome,
            protected=row.protected,
            description=self._dec(row.description_enc, AD_DESCRIPTION) if details else "",
            reporter=reporter,
            case_id=row.case_id or "",
            unit_report_id=row.unit_report_id,
        )

    async def list_alerts(self, wanted: AlertFilter) -> list[Alert]:
        statement = select(alerts)
        if wanted.school_code:
            statement = statement.where(alerts.c.school_code == wanted.school_code)
        if wanted.county_code:
            statement = statement.where(alerts.c.county_code == wanted.county_code)
        if wanted.student_id:
            statement = statement.where(alerts.c.student_id == wanted.student_id)
        if wanted.statuses:
            statement = statement.where(alerts.c.status.in_([s.value for s in wanted.statuses]))
        if wanted.after:
            statement = statement.where(
                tuple_(alerts.c.raised_at, alerts.c.alert_id) < tuple_(*wanted.after)
            )
        statement = statement.order_by(alerts.c.raised_at.desc(), alerts.c.alert_id.desc()).limit(
            wanted.limit
        )
        rows = (await self._session.execute(statement)).all()
        return [self._alert(row, details=False) for row in rows]

    async def add_routings(self, added: Sequence[Routing]) -> None:
        if not added:
            return
        await self._session.execute(
            insert(routings),
            [
                {
                    "alert_id": r.alert_id,
                    "level": r.level.value,
                    "routed_at": r.routed_at,
                    "notified": r.notified,
                    "reason": r.reason,
                }
                for r in added
            ],
        )

    async def routings(self, alert_id: UUID) -> list[Routing]:
        rows = (
            await self._session.execute(
                select(routings).where(routings.c.alert_id == alert_id).order_by(routings.c.id)
            )
        ).all()
        return [
            Routing(row.alert_id, Level(row.level), row.routed_at, row.notified, row.reason)
            for row in rows
        ]

    # --- notifications ---------------------------------------------------------------------

    async def add_notifications(self, added: Sequence[Notification]) -> None:
        if not added:
            return
        await self._session.execute(
            insert(notifications),
            [
                {
                    "notification_id": n.notification_id,
                    "alert_id": n.alert_id,
                    "student_id": n.student_id,
                    "level": n.level.value,
                    "role": n.role,
                    "recipient": n.recipient,
                    "channel": n.channel,
                    "status": n.status.value,
                    "requested_at": n.requested_at,
                    "acknowledge_by": n.acknowledge_by,
                    "delivered_at": n.delivered_at,
                }
                for n in added
            ],
        )

    async def notifications(self, alert_id: UUID) -> list[Notification]:
        rows = (
            await self._session.execute(
                select(notifications)
                .where(notifications.c.alert_id == alert_id)
                .order_by(notifications.c.requested_at, notifications.c.recipient)
            )
        ).all()
        attempts = await self._attempts([row.notification_id for row in rows])
        return [self._notification(row, attempts.get(row.notification_id, [])) for row in rows]

    async def _attempts(self, ids: Sequence[UUID]) -> dict[UUID, list[DeliveryAttempt]]:
        if not ids:
            return {}
        rows = (
            await self._session.execute(
                select(delivery_attempts)
                .where(delivery_attempts.c.notification_id.in_(list(ids)))
                .order_by(delivery_attempts.c.id)
            )
        ).all()
        found: dict[UUID, list[DeliveryAttempt]] = {}
        for row in rows:
            found.setdefault(row.notification_id, []).append(
                DeliveryAttempt(row.attempted_at, row.delivered, row.error)
            )
        return found

    def _notification(self, row: Any, attempts: list[DeliveryAttempt]) -> Notification:
        return Notification(
            notification_id=row.notification_id,
            alert_id=row.alert_id,
            student_id=row.student_id,
            level=Level(row.level),
            role=row.role,
            recipient=row.recipient,
            channel=row.channel,
            requested_at=row.requested_at,
            acknowledge_by=row.acknowledge_by,
            status=NotificationStatus(row.status),
            delivered_at=row.delivered_at,
            attempts=attempts,
        )

    async def get_notifications(
        self, notification_ids: Sequence[UUID], *, for_update: bool = False
    ) -> dict[UUID, Notification]:
        if not notification_ids:
            return {}
        statement = select(notifications).where(
            notifications.c.notification_id.in_(list(notification_ids))
        )
        if for_update:
            statement = statement.order_by(notifications.c.notification_id).with_for_update()
        rows = (await self._session.execute(statement)).all()
        attempts = await self._attempts([row.notification_id for row in rows])
        return {
            row.notification_id: self._notification(row, attempts.get(row.notification_id, []))
            for row in rows
        }

    async def record_attempts(
        self, attempted: Sequence[tuple[Notification, DeliveryAttempt]]
    ) -> None:
        if not attempted:
            return
        await self._session.execute(
            update(notifications)
            .where(notifications.c.notification_id == bindparam("attempted_id"))
            .values(status=bindparam("new_status"), delivered_at=bindparam("new_delivered_at")),
            [
                {
                    "attempted_id": n.notification_id,
                    "new_status": n.status.value,
                    "new_delivered_at": n.delivered_at,
                }
                for n, _ in attempted
            ],
        )
        await self._session.execute(
            insert(delivery_attempts),
            [
                {
                    "notification_id": n.notification_id,
                    "attempted_at": attempt.attempted_at,
                    "delivered": attempt.delivered,
                    "error": attempt.error[:64],
                }
                for n, attempt in attempted
            ],
        )

    # --- timers ----------------------------------------------------------------------------

    async def set_timer(self, timer: Timer) -> None:
        await self.set_timers([timer])

    async def set_timers(self, timers: Sequence[Timer]) -> None:
        if not timers:
            return
        statement = pg_insert(escalation_timers).values(
            [
                {"alert_id": t.alert_id, "level_index": t.level_index, "due_at": t.due_at}
                for t in timers
            ]
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[escalation_timers.c.alert_id],
                set_={
                    "level_index": statement.excluded.level_index,
                    "due_at": statement.excluded.due_at,
                },
            )
        )

    async def clear_timer(self, alert_id: UUID) -> None:
        await self._session.execute(
            delete(escalation_timers).where(escalation_timers.c.alert_id == alert_id)
        )

    async def claim_due_timers(self, now: datetime, limit: int) -> list[Timer]:
        rows = (
            await self._session.execute(
                select(escalation_timers)
                .where(escalation_timers.c.due_at <= now)
                .order_by(escalation_timers.c.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return [Timer(row.alert_id, row.level_index, row.due_at) for row in rows]

    # --- partner reports and review tasks --------------------------------------------------

    async def record_unit_report(self, report: UnitReport) -> bool:
        return report.report_id in await self.record_unit_reports([report])

    async def record_unit_reports(self, reports: Sequence[UnitReport]) -> set[UUID]:
        if not reports:
            return set()
        statement = (
            pg_insert(unit_reports)
            .values(
                [
                    {
                        "report_id": report.report_id,
                        "unit": report.unit,
                        "external_id": report.external_id,
                        "occurred_at": report.occurred_at,
                        "received_at": func.now(),
                        "contact_enc": self._enc(
                            f"{report.contact_name}\n{report.contact_phone}", AD_CONTACT
                        ),
                    }
                    for report in reports
                ]
            )
            .on_conflict_do_nothing()
            .returning(unit_reports.c.report_id)
        )
        return set((await self._session.execute(statement)).scalars())

    async def link_unit_report(
        self, report_id: UUID, *, alert_id: UUID | None, review_task_id: UUID | None
    ) -> None:
        values: dict[str, Any] = {}
        if alert_id is not None:
            values["alert_id"] = alert_id
        if review_task_id is not None:
            values["review_task_id"] = review_task_id
        if values:
            await self._session.execute(
                update(unit_reports).where(unit_reports.c.report_id == report_id).values(**values)
            )

    async def link_unit_reports(self, links: Sequence[ReportLink]) -> None:
        for column, rows in (
            ("alert_id", [(link.report_id, link.alert_id) for link in links if link.alert_id]),
            (
                "review_task_id",
                [(link.report_id, link.review_task_id) for link in links if link.review_task_id],
            ),
        ):
            if rows:
                await self._session.execute(
                    update(unit_reports)
                    .where(unit_reports.c.report_id == bindparam("linked_report"))
                    .values({column: bindparam("linked_to")}),
                    [{"linked_report": report, "linked_to": to} for report, to in rows],
                )

    async def unit_report_of_alert(self, alert_id: UUID) -> tuple[str, str] | None:
        row = (
            await self._session.execute(
                select(unit_reports.c.unit, unit_reports.c.external_id).where(
                    unit_reports.c.alert_id == alert_id
                )
            )
        ).first()
        return None if row is None else (row.unit, row.external_id)

    def _review_values(self, task: ReviewTask) -> dict[str, Any]:
        return {
            "task_id": task.task_id,
            "kind": task.kind.value,
            "status": task.status.value,
            "unit": task.unit,
            "scope_code": task.scope_code,
            "external_id": task.external_id,
            "reason": task.reason[:200],
            "created_at": task.created_at,
            "raw_enc": self._cipher.encrypt(task.raw, AD_RAW),
            "description_enc": self._enc(task.description, AD_REVIEW_DESCRIPTION),
            "unit_report_id": task.unit_report_id,
            "position": task.position or None,
            "category": task.category.value,
            "severity_hint": task.severity_hint.value if task.severity_hint else None,
        }

    async def add_review(self, task: ReviewTask) -> bool:
        statement = (
            pg_insert(review_tasks)
            .values(**self._review_values(task))
            .on_conflict_do_nothing()
            .returning(review_tasks.c.task_id)
        )
        return (await self._session.execute(statement)).first() is not None

    async def add_reviews(self, tasks: Sequence[ReviewTask]) -> None:
        if tasks:
            await self._session.execute(
                insert(review_tasks), [self._review_values(task) for task in tasks]
            )

    def _review(self, row: Any, *, details: bool) -> ReviewTask:
        return ReviewTask(
            task_id=row.task_id,
            kind=ReviewKind(row.kind),
            unit=row.unit,
            scope_code=row.scope_code,
            external_id=row.external_id,
            reason=row.reason,
            created_at=row.created_at,
            raw=self._cipher.decrypt(row.raw_enc, AD_RAW) if details else b"",
            status=ReviewStatus(row.status),
            unit_report_id=row.unit_report_id,
            position=row.position or "",
            category=Category(row.category),
            severity_hint=Severity(row.severity_hint) if row.severity_hint else None,
            description=(self._dec(row.description_enc, AD_REVIEW_DESCRIPTION) if details else ""),
            alert_id=row.alert_id,
            resolution=row.resolution,
            resolved_by=row.resolved_by,
            resolved_at=row.resolved_at,
        )

    async def get_review(self, task_id: UUID, *, for_update: bool = False) -> ReviewTask | None:
        statement = select(review_tasks).where(review_tasks.c.task_id == task_id)
        if for_update:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return None if row is None else self._review(row, details=True)

    async def save_review(self, task: ReviewTask) -> None:
        await self._session.execute(
            update(review_tasks)
            .where(review_tasks.c.task_id == task.task_id)
            .values(
                status=task.status.value,
                alert_id=task.alert_id,
                resolution=task.resolution,
                resolved_by=task.resolved_by,
                resolved_at=task.resolved_at,
            )
        )

    async def list_reviews(
        self, scope_codes: Sequence[str] | None, statuses: Sequence[ReviewStatus], limit: int
    ) -> list[ReviewTask]:
        statement = select(review_tasks).where(
            review_tasks.c.status.in_([s.value for s in statuses])
        )
        if scope_codes is not None:
            statement = statement.where(review_tasks.c.scope_code.in_(list(scope_codes)))
        statement = statement.order_by(review_tasks.c.created_at.desc()).limit(limit)
        rows = (await self._session.execute(statement)).all()
        return [self._review(row, details=False) for row in rows]

    # --- cases -----------------------------------------------------------------------------

    async def add_case(self, case: Case) -> None:
        await self.add_cases([case])

    async def add_cases(self, added: Sequence[Case]) -> None:
        if not added:
            return
        await self._session.execute(
            insert(cases),
            [
                {
                    "case_id": case.case_id,
                    "alert_id": case.alert_id,
                    "student_id": case.student.student_id,
                    "school_code": case.student.school_code,
                    "county_code": case.student.county_code,
                    "class_code": case.student.class_code,
                    "owner": case.owner,
                    "status": case.status.value,
                    "opened_at": case.opened_at,
                }
                for case in added
            ],
        )

    async def save_case(self, case: Case) -> None:
        await self._session.execute(
            update(cases)
            .where(cases.c.case_id == case.case_id)
            .values(
                owner=case.owner,
                status=case.status.value,
                closed_at=case.closed_at,
                summary_enc=self._enc(case.summary, AD_SUMMARY),
            )
        )

    async def get_case(self, case_id: str, *, for_update: bool = False) -> Case | None:
        statement = select(cases).where(cases.c.case_id == case_id)
        if for_update:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        if row is None:
            return None
        steps = (
            await self._session.execute(
                select(case_steps).where(case_steps.c.case_id == case_id).order_by(case_steps.c.seq)
            )
        ).all()
        return Case(
            case_id=row.case_id,
            alert_id=row.alert_id,
            student=StudentPlace(row.student_id, row.school_code, row.county_code, row.class_code),
            owner=row.owner,
            opened_at=row.opened_at,
            status=CaseStatus(row.status),
            closed_at=row.closed_at,
            summary=self._dec(row.summary_enc, AD_SUMMARY),
            steps=[
                CaseStep(
                    step_id=step.step_id,
                    kind=CaseStepKind(step.kind),
                    actor=step.actor,
                    occurred_at=step.occurred_at,
                    recorded_at=step.recorded_at,
                    note=self._dec(step.note_enc, AD_NOTE),
                )
                for step in steps
            ],
        )

    async def add_case_step(self, case_id: str, step: CaseStep) -> None:
        seq = await self._session.scalar(
            select(func.coalesce(func.max(case_steps.c.seq), 0) + 1).where(
                case_steps.c.case_id == case_id
            )
        )
        await self._session.execute(
            insert(case_steps).values(
                step_id=step.step_id,
                case_id=case_id,
                seq=seq,
                kind=step.kind.value,
                actor=step.actor,
                occurred_at=step.occurred_at,
                recorded_at=step.recorded_at,
                note_enc=self._cipher.encrypt_text(step.note, AD_NOTE),
            )
        )

    async def add_locate_request(self, request: LocateRequest) -> None:
        await self._session.execute(
            insert(locate_requests).values(
                request_id=request.request_id,
                student_id=request.student.student_id,
                school_code=request.student.school_code,
                unit=request.unit,
                requested_by=request.requested_by,
                requested_at=request.requested_at,
                details_enc=self._cipher.encrypt_text(
                    f"{request.details}\n{request.school_contact}", AD_DETAILS
                ),
            )
        )

    # --- events and audit ------------------------------------------------------------------

    async def emit(self, event: DomainEvent) -> None:
        self._pending.append(event)

    async def flush(self) -> None:
        """Writes the facts emitted so far to the outbox (one INSERT); runs before commit."""
        pending, self._pending = self._pending, []
        await self._events.write(self._session, pending)

    async def audit_read(
        self, principal: Principal, action: str, resource_type: str, resource_id: str
    ) -> None:
        if self._audit is not None:
            await self._audit.sensitive_read(
                self._session, principal, action, resource_type, resource_id
            )


class SqlTransactions:
    """The domain's ``Transactions``: each call is one transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: FieldCipher,
        events: EventOutbox,
        audit: AuditRecorder | None = None,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._events = events
        self._audit = audit

    @property
    def events(self) -> EventOutbox:
        return self._events

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlTx]:
        async with self._sessions() as session, session.begin():
            tx = SqlTx(session, self._cipher, self._events, self._audit)
            yield tx
            await tx.flush()

    def within(self, session: AsyncSession) -> SqlTx:
        """A Tx on a transaction someone else opened (the consumer's, with its inbox row)."""
        return SqlTx(session, self._cipher, self._events, self._audit)


__all__ = ["SqlTransactions", "SqlTx"]
