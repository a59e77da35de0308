"""Routing and escalation (R6, R10): an alert is told to the people the policy names for its
severity, level by level, with responders resolved through identity at the moment of routing;
an unacknowledged alert escalates when its deadline passes, from a timer stored with it, so a
restart loses nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from alerts.domain.events import AlertEscalated, AlertRaised, CaseOpened, NotificationRequested
from alerts.domain.model import (
    Alert,
    AlertStatus,
    Case,
    Level,
    Notification,
    Responder,
    Responders,
    Routing,
    StudentPlace,
    Timer,
)
from alerts.domain.policy import Policy
from alerts.domain.ports import Clock, ResponderDirectory, Tx

logger = logging.getLogger(__name__)

OWNER_ROLE = "psych_teacher"


def new_case_id() -> str:
    return f"case-{uuid4()}"


class Router:
    def __init__(
        self,
        policy: Policy,
        responders: ResponderDirectory,
        clock: Clock,
        *,
        channel: str,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._policy = policy
        self._responders = responders
        self._clock = clock
        self._channel = channel
        self._new_id = new_id

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def responders(self) -> ResponderDirectory:
        return self._responders

    async def raise_alert(self, tx: Tx, alert: Alert) -> Alert:
        """Store a new alert, route it to its first level, and open a crisis case if the policy
        says so for its severity (R9). All in the caller's transaction."""
        (raised,) = await self.raise_alerts(tx, [alert])
        return raised

    async def raise_alerts(self, tx: Tx, raised: Sequence[Alert]) -> Sequence[Alert]:
        """:meth:`raise_alert` for several alerts at once (a batch of partner reports): one
        responder lookup and one write per table for the whole batch."""
        if not raised:
            return raised
        directories = await self._responders.responders_many(
            list(dict.fromkeys(alert.student.student_id for alert in raised))
        )
        cases: list[Case] = []
        plans: list[tuple[Alert, _Plan]] = []
        for alert in raised:
            directory = directories.get(alert.student.student_id)
            if directory is not None:
                # Identity's answer is the student's place now (a transfer moves the alert too).
                alert.student = directory.student
            ladder = self._policy.ladder(alert.severity)
            # A protected report (R23) always has a case: its owner is the one person who may
            # know the reporter.
            if ladder.opens_case or alert.protected:
                case = self._new_case(alert, directory)
                alert.case_id = case.case_id
                cases.append(case)
            plans.append((alert, self._plan(alert, 0, directory, reason="raised")))
        # The alerts are stored with their routing decided, then what refers to them.
        await tx.add_alerts(raised)
        if cases:
            await tx.add_cases(cases)
            for case in cases:
                await tx.emit(CaseOpened(case))
        await self._store(tx, plans)
        for alert in raised:
            await tx.emit(AlertRaised(alert))
        return raised

    def _new_case(self, alert: Alert, directory: Responders | None) -> Case:
        owners = (
            directory.at(Level.SCHOOL, frozenset({OWNER_ROLE})) if directory is not None else []
        )
        return Case(
            case_id=new_case_id(),
            alert_id=alert.alert_id,
            student=alert.student,
            # Without a psychology teacher the case waits for one to take it (OpenCase by staff).
            owner=owners[0].username if owners else "",
            opened_at=self._clock.now(),
        )

    async def escalate_due(self, tx: Tx, limit: int = 50) -> int:
        """Claims due timers (``FOR UPDATE SKIP LOCKED``: replicas share the work) and moves
        each still-unacknowledged alert up its ladder. Returns how many timers it handled."""
        timers = await tx.claim_due_timers(self._clock.now(), limit)
        for timer in timers:
            await self._fire(tx, timer)
        return len(timers)

    async def _fire(self, tx: Tx, timer: Timer) -> None:
        alert = await tx.get_alert(timer.alert_id, for_update=True)
        if alert is None or alert.status is not AlertStatus.OPEN:
            await tx.clear_timer(timer.alert_id)
            return
        if timer.level_index != alert.level_index:  # a stale timer: the alert moved on
            await tx.clear_timer(timer.alert_id)
            return
        from_level = alert.level
        directory = await self._responders.responders(alert.student.student_id)
        steps = self._policy.ladder(alert.severity).steps
        if alert.level_index + 1 < len(steps):
            reason = "escalated"
            plan = self._plan(alert, alert.level_index + 1, directory, reason=reason)
        else:
            reason = "reminded"
            plan = self._plan(alert, alert.level_index, directory, reason=reason, remind=True)
        await tx.save_alert(alert)
        await self._store(tx, [(alert, plan)])
        assert alert.level is not None
        await tx.emit(AlertEscalated(alert, from_level, alert.level, self._clock.now(), reason))

    def _plan(
        self,
        alert: Alert,
        index: int,
        directory: Responders | None,
        *,
        reason: str,
        remind: bool = False,
    ) -> _Plan:
        """Who the step at ``index`` tells; a step with nobody to tell is recorded and skipped.
        Sets the alert's level and deadline."""
        ladder = self._policy.ladder(alert.severity)
        now = self._clock.now()
        routings: list[Routing] = []
        while True:
            step = ladder.steps[index]
            people: list[Responder] = []
            if directory is not None:
                for level, roles in step.notify.items():
                    people.extend(directory.at(level, roles))
            if not people and index + 1 < len(ladder.steps):
                routings.append(
                    Routing(alert.alert_id, step.level, now, 0, "skipped-no-responders")
                )
                index += 1
                continue
            break
        due = now + (ladder.remind_every if remind else step.acknowledge_within)
        alert.level_index = index
        alert.level = step.level
        alert.acknowledge_by = due
        if not people:
            # The top of the ladder holds nobody either: recorded, and the timer keeps trying.
            logger.warning(
                "no responders at the last level",
                extra={"alert_id": str(alert.alert_id), "network_level": step.level.value},
            )
        routings.append(Routing(alert.alert_id, step.level, now, len(people), reason))
        notifications = [
            Notification(
                notification_id=self._new_id(),
                alert_id=alert.alert_id,
                student_id=alert.student.student_id,
                level=person.level,
                role=person.role,
                recipient=person.username,
                channel=self._channel,
                requested_at=now,
                acknowledge_by=due,
            )
            for person in people
        ]
        return _Plan(routings, notifications, Timer(alert.alert_id, index, due))

    async def _store(self, tx: Tx, plans: Sequence[tuple[Alert, _Plan]]) -> None:
        await tx.add_routings([r for _, plan in plans for r in plan.routings])
        await tx.add_notifications([n for _, plan in plans for n in plan.notifications])
        for alert, plan in plans:
            for notification in plan.notifications:
                await tx.emit(
                    NotificationRequested(
                        notification, alert.severity, alert.category, alert.student.school_code
                    )
                )
        await tx.set_timers([plan.timer for _, plan in plans])


@dataclass(frozen=True)
class _Plan:
    routings: list[Routing]
    notifications: list[Notification]
    timer: Timer


def place_of(student_id: UUID, school_code: str, county_code: str, class_code: str) -> StudentPlace:
    return StudentPlace(student_id, school_code, county_code, class_code)


def now_or(value: datetime | None, clock: Clock) -> datetime:
    return value if value is not None else clock.now()
