"""Alerts' event handlers: decode, translate to the domain, apply in the consumer's transaction
(the inbox row and the effect commit together), and the dead-letter hook that turns every
message alerts could not handle into a human review task."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adapters.db.repository import SqlTransactions
from alerts.adapters.messaging.events import (
    CATEGORY_OF_PB,
    SEVERITY_OF_PB,
    unit_of_topic,
)
from alerts.domain.delivery import Deliverer, Outgoing
from alerts.domain.intake import Intake, ScreeningSignal
from alerts.domain.model import Category, StudentPlace, UnitReport
from xinyu.alerts.v1 import alerts_pb2 as api
from xinyu.events.v1 import alerts_pb2 as ev
from xinyu.events.v1 import screening_pb2 as screening_events
from xinyu.screening.v1 import screening_pb2 as screening_api
from xinyu_core.messaging import DeadLetter, PoisonMessage

# Screening's risk levels by name, as the policy file names them.
_RISK_LEVELS = {
    screening_api.RISK_LEVEL_GREEN: "green",
    screening_api.RISK_LEVEL_YELLOW: "yellow",
    screening_api.RISK_LEVEL_ORANGE: "orange",
    screening_api.RISK_LEVEL_RED: "red",
}
# Where a dead letter that is no partner's report is reviewed: the city.
PLATFORM_SCOPE_UNIT = "platform-360700"


def _place(student_id: str, school_code: str, county_code: str, class_code: str) -> StudentPlace:
    try:
        parsed = UUID(student_id)
    except ValueError as error:
        raise PoisonMessage("student_id is not a UUID") from error
    if not school_code or not county_code:
        raise PoisonMessage("school_code and county_code are required")
    return StudentPlace(parsed, school_code, county_code, class_code)


def _unit_report(event: ev.UnitReportReceived) -> UnitReport:
    return UnitReport(
        report_id=UUID(event.meta.event_id),
        unit=event.unit,
        external_id=event.external_id,
        occurred_at=event.occurred_at.ToDatetime(tzinfo=UTC),
        category=CATEGORY_OF_PB.get(event.category, Category.OTHER),
        severity_hint=SEVERITY_OF_PB.get(event.severity_hint),
        description=event.description,
        student_number=event.student_number,
        resident_id=event.resident_id,
        full_name=event.full_name,
        contact_name=event.contact_name,
        contact_phone=event.contact_phone,
        raw=event.raw,
    )


class Handlers:
    def __init__(self, transactions: SqlTransactions, intake: Intake) -> None:
        self._tx = transactions
        self._intake = intake

    async def on_unit_reports(
        self, session: AsyncSession, events: Sequence[ev.UnitReportReceived]
    ) -> None:
        """A batch of partner reports (the consumer's, in its transaction with their inbox
        rows); a single report is a batch of one."""
        tx = self._tx.within(session)
        await self._intake.on_unit_reports(tx, [_unit_report(event) for event in events])
        await tx.flush()

    async def on_result_flagged(
        self, session: AsyncSession, event: screening_events.ResultFlagged
    ) -> None:
        signal = ScreeningSignal(
            student=_place(
                event.student_id, event.school_code, event.county_code, event.class_code
            ),
            submission_id=event.submission_id,
            flagged=True,
            risk_level=_RISK_LEVELS.get(event.level, ""),
            at=event.flagged_at.ToDatetime(tzinfo=UTC),
        )
        tx = self._tx.within(session)
        await self._intake.on_screening(tx, signal)
        await tx.flush()

    async def on_level_confirmed(
        self, session: AsyncSession, event: screening_events.LevelConfirmed
    ) -> None:
        signal = ScreeningSignal(
            student=_place(
                event.student_id, event.school_code, event.county_code, event.class_code
            ),
            submission_id=event.submission_id,
            flagged=False,
            risk_level=_RISK_LEVELS.get(event.confirmed_level, ""),
            at=event.confirmed_at.ToDatetime(tzinfo=UTC),
        )
        tx = self._tx.within(session)
        await self._intake.on_screening(tx, signal)
        await tx.flush()

    async def on_dead_letter(self, letter: DeadLetter) -> None:
        """Never a drop: every dead letter raises a review task (once per position), holding
        the raw message encrypted, and a partner unit gets a "rejected" receipt."""
        try:
            unit = unit_of_topic(letter.topic)
        except ValueError:
            unit = PLATFORM_SCOPE_UNIT
        position = f"{letter.topic}:{letter.partition}:{letter.offset}"
        async with self._tx() as tx:
            await self._intake.on_malformed(tx, unit, position, letter.value, letter.reason)


class NotificationHandler:
    def __init__(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer

    async def on_requested(
        self, session: AsyncSession, events: Sequence[ev.NotificationRequested]
    ) -> None:
        """A batch of requested notifications (a single one is a batch of one)."""
        await self._deliverer.deliver_many([_outgoing(event) for event in events])


def _outgoing(event: ev.NotificationRequested) -> Outgoing:
    acknowledge_by = (
        event.acknowledge_by.ToDatetime(tzinfo=UTC).isoformat()
        if event.HasField("acknowledge_by")
        else ""
    )
    return Outgoing(
        notification_id=UUID(event.notification_id),
        alert_id=UUID(event.alert_id),
        recipient=event.recipient,
        role=event.role,
        level=api.Level.Name(event.level).removeprefix("LEVEL_").lower(),
        severity=api.Severity.Name(event.severity).removeprefix("SEVERITY_").lower(),
        category=api.Category.Name(event.category).removeprefix("CATEGORY_").lower(),
        school_code=event.school_code,
        acknowledge_by=acknowledge_by,
    )
