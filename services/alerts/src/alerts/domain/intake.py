"""Where alerts come from: screening (a flagged item, a confirmed high level), a person's
report, and partner units (R12). A partner's report that names its student exactly becomes an
alert at the student's current school; anything uncertain becomes a human review task — never a
drop; a repeat of the same external id changes nothing; a malformed message raises a review
task beside its dead letter. Every report gets receipts on the unit's receipt topic."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from alerts.domain.events import Receipt
from alerts.domain.model import (
    REVIEW_KIND_OF_MATCH,
    Alert,
    Category,
    Match,
    MatchOutcome,
    ReceiptStatus,
    ReviewKind,
    ReviewTask,
    Severity,
    Source,
    StudentPlace,
    UnitReport,
    unit_code,
)
from alerts.domain.ports import Clock, MatchRequest, ReportLink, StudentMatcher, Tx
from alerts.domain.routing import Router

SCREENING_REF = "screening"


@dataclass(frozen=True)
class ScreeningSignal:
    """A flagged result or a confirmed level, as screening announced it."""

    student: StudentPlace
    submission_id: str
    flagged: bool
    # Screening's risk level name ("orange", "red"…), for confirmed levels.
    risk_level: str
    at: datetime


class Intake:
    def __init__(
        self,
        router: Router,
        matcher: StudentMatcher,
        clock: Clock,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._router = router
        self._matcher = matcher
        self._clock = clock
        self._new_id = new_id

    # --- screening -------------------------------------------------------------------------

    async def on_screening(self, tx: Tx, signal: ScreeningSignal) -> Alert | None:
        policy = self._router.policy
        if signal.flagged:
            severity: Severity | None = policy.screening_flagged
        else:
            severity = policy.screening_confirmed(signal.risk_level)
        if severity is None:
            return None  # a level the policy does not alert on (green, yellow by default)
        alert = Alert(
            alert_id=self._new_id(),
            student=signal.student,
            severity=severity,
            source=Source.SCREENING,
            source_ref=SCREENING_REF,
            category=Category.SCREENING_FLAG if signal.flagged else Category.OTHER,
            raised_at=self._clock.now(),
        )
        return await self._router.raise_alert(tx, alert)

    # --- partner units ---------------------------------------------------------------------

    async def on_unit_report(self, tx: Tx, report: UnitReport) -> Alert | ReviewTask | None:
        """One validated partner report. None: a repeat of an external id already handled."""
        handled = await self.on_unit_reports(tx, [report])
        return handled[0] if handled else None

    async def on_unit_reports(
        self, tx: Tx, reports: Sequence[UnitReport]
    ) -> list[Alert | ReviewTask]:
        """Validated partner reports, in one transaction: what each new one became, in order
        (repeats of an external id already handled are left out). The batch asks identity once
        to match every student and once for every matched student's responders."""
        new_ids = await tx.record_unit_reports(reports)
        fresh: list[UnitReport] = []
        for report in reports:
            if report.report_id in new_ids:
                new_ids.discard(report.report_id)  # twice in one batch: the first one counts
                fresh.append(report)
        if not fresh:
            return []
        now = self._clock.now()
        for report in fresh:
            await tx.emit(
                self._receipt(
                    report.unit,
                    report.external_id,
                    ReceiptStatus.RECEIVED,
                    now,
                    reference=report.report_id,
                )
            )
        matches = await self._matcher.match_many(
            [MatchRequest(r.student_number, r.resident_id, r.full_name) for r in fresh]
        )
        handled: list[Alert | ReviewTask] = []
        alerts: list[Alert] = []
        tasks: list[ReviewTask] = []
        links: list[ReportLink] = []
        receipts: list[Receipt] = []
        for report, match in zip(fresh, matches, strict=True):
            if match.outcome is MatchOutcome.EXACT and match.student is not None:
                alert = Alert(
                    alert_id=self._new_id(),
                    student=match.student,
                    severity=self._router.policy.unit_severity(
                        report.category, report.severity_hint
                    ),
                    source=Source.UNIT,
                    source_ref=report.unit,
                    category=report.category,
                    raised_at=now,
                    description=report.description,
                    unit_report_id=report.report_id,
                )
                alerts.append(alert)
                handled.append(alert)
                links.append(ReportLink(report.report_id, alert_id=alert.alert_id))
                status, reason = ReceiptStatus.MATCHED, ""
            else:
                task = self._review_task(report, match, now)
                tasks.append(task)
                handled.append(task)
                links.append(ReportLink(report.report_id, review_task_id=task.task_id))
                status, reason = ReceiptStatus.IN_REVIEW, task.kind.value
            receipts.append(
                self._receipt(
                    report.unit,
                    report.external_id,
                    status,
                    now,
                    reason=reason,
                    reference=report.report_id,
                )
            )
        await self._router.raise_alerts(tx, alerts)
        await tx.add_reviews(tasks)
        await tx.link_unit_reports(links)
        for receipt in receipts:
            await tx.emit(receipt)
        return handled

    def _review_task(self, report: UnitReport, match: Match, now: datetime) -> ReviewTask:
        """What a person reviews when identity could not name the student exactly."""
        kind = REVIEW_KIND_OF_MATCH.get(match.outcome, ReviewKind.UNCERTAIN)
        return ReviewTask(
            task_id=self._new_id(),
            kind=kind,
            unit=report.unit,
            scope_code=unit_code(report.unit),
            external_id=report.external_id,
            reason=match.reason or kind.value,
            created_at=now,
            raw=report.raw,
            unit_report_id=report.report_id,
            category=report.category,
            severity_hint=report.severity_hint,
            description=report.description,
        )

    async def on_malformed(
        self, tx: Tx, unit: str, position: str, raw: bytes, reason: str
    ) -> ReviewTask | None:
        """A message that failed validation (it is already in the DLQ). None: this position
        already has its task (a redelivery)."""
        now = self._clock.now()
        external_id = external_id_of(raw)
        task = ReviewTask(
            task_id=self._new_id(),
            kind=ReviewKind.MALFORMED,
            unit=unit,
            scope_code=unit_code(unit),
            external_id=external_id,
            reason=reason,
            created_at=now,
            raw=raw,
            position=position,
        )
        if not await tx.add_review(task):
            return None
        await tx.emit(
            self._receipt(
                unit,
                external_id,
                ReceiptStatus.REJECTED,
                now,
                reason=reason,
                reference=task.task_id,
            )
        )
        return task

    def _receipt(
        self,
        unit: str,
        external_id: str,
        status: ReceiptStatus,
        at: datetime,
        *,
        reason: str = "",
        reference: UUID | None = None,
    ) -> Receipt:
        return Receipt(self._new_id(), unit, external_id, status, at, reason, reference)

    def closed_receipt(self, unit: str, external_id: str, reason: str) -> Receipt:
        return self._receipt(
            unit, external_id, ReceiptStatus.CLOSED, self._clock.now(), reason=reason
        )


def external_id_of(raw: bytes) -> str:
    """The unit's external id of a message that failed validation, if it can be read at all
    and looks like one (it is echoed in the receipt, so nothing else is taken from it)."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return ""
    value = document.get("external_id") if isinstance(document, dict) else None
    if (
        isinstance(value, str)
        and 0 < len(value) <= 100
        and value.isascii()
        and all(ch.isalnum() or ch in "._:-" for ch in value)
    ):
        return value
    return ""
