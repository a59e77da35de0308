"""Routing by severity, escalation on a controllable clock, acknowledgement, responders
resolved at the moment of routing, and the policy file itself."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from alerts_fakes import SCHOOL, World, place, principal, responders_of, world

from alerts.domain import events
from alerts.domain.model import (
    Alert,
    AlertStatus,
    Category,
    Level,
    Responder,
    Severity,
    Source,
)
from alerts.domain.policy import Policy, parse_duration
from xinyu_core.errors import PermissionDenied


async def raise_one(w: World, severity: Severity) -> Alert:
    student = place()
    w.responders.enrol(student)
    alert = Alert(
        uuid4(), student, severity, Source.SCREENING, "screening", Category.OTHER, w.clock.now()
    )
    async with w.transactions() as tx:
        await w.router.raise_alert(tx, alert)
    return alert


def recipients(w: World, alert: Alert) -> set[str]:
    return {n.recipient for n in w.store.notifications.values() if n.alert_id == alert.alert_id}


def test_the_shipped_policy_loads_and_has_a_ladder_for_every_severity() -> None:
    policy = Policy.load()
    for severity in Severity:
        assert policy.ladder(severity).steps
    assert policy.ladder(Severity.CRITICAL).opens_case
    assert not policy.ladder(Severity.LOW).opens_case


def test_a_policy_without_a_severity_or_with_a_bad_duration_is_refused() -> None:
    data = {
        "severities": {},
        "category_floor": {},
        "screening": {"flagged": "critical", "confirmed": {}},
        "units": {"default": "high"},
    }
    with pytest.raises(ValueError, match="severities without a ladder"):
        Policy.from_mapping(data)
    with pytest.raises(ValueError, match="a duration is"):
        parse_duration("10 minutes")


async def test_critical_tells_the_head_teacher_and_psychology_teacher_first() -> None:
    w = world()
    alert = await raise_one(w, Severity.CRITICAL)
    assert recipients(w, alert) == {"head.teacher", "psych.teacher"}
    stored = w.store.alerts[alert.alert_id]
    assert stored.level is Level.SCHOOL
    assert stored.acknowledge_by == w.clock.now() + timedelta(minutes=10)
    assert w.store.timers[alert.alert_id].due_at == stored.acknowledge_by
    kinds = [type(e) for e in w.store.events]
    assert events.AlertRaised in kinds
    assert kinds.count(events.NotificationRequested) == 2


async def test_medium_tells_only_the_class_level() -> None:
    w = world()
    alert = await raise_one(w, Severity.MEDIUM)
    assert recipients(w, alert) == {"head.teacher"}
    assert w.store.alerts[alert.alert_id].level is Level.CLASS


async def test_unacknowledged_alert_escalates_when_its_deadline_passes_and_not_before() -> None:
    w = world()
    alert = await raise_one(w, Severity.CRITICAL)
    w.clock.advance(timedelta(minutes=9, seconds=59))
    async with w.transactions() as tx:
        assert await w.router.escalate_due(tx) == 0
    w.clock.advance(timedelta(seconds=1))
    async with w.transactions() as tx:
        assert await w.router.escalate_due(tx) == 1
    stored = w.store.alerts[alert.alert_id]
    assert stored.level is Level.FAMILY
    assert {"school.admin", "guardian"} <= recipients(w, alert)
    escalated = [e for e in w.store.events if isinstance(e, events.AlertEscalated)]
    assert escalated[-1].from_level is Level.SCHOOL
    assert escalated[-1].to_level is Level.FAMILY
    # The next deadline is the family step's, from now.
    assert w.store.timers[alert.alert_id].due_at == w.clock.now() + timedelta(minutes=15)


async def test_past_the_last_level_the_top_is_reminded_until_someone_acknowledges() -> None:
    w = world()
    alert = await raise_one(w, Severity.CRITICAL)
    for minutes in (10, 15):
        w.clock.advance(timedelta(minutes=minutes))
        async with w.transactions() as tx:
            await w.router.escalate_due(tx)
    assert w.store.alerts[alert.alert_id].level is Level.COUNTY
    w.clock.advance(timedelta(minutes=30))
    async with w.transactions() as tx:
        assert await w.router.escalate_due(tx) == 1
    reasons = [r.reason for r in w.store.routings if r.alert_id == alert.alert_id]
    assert reasons == ["raised", "escalated", "escalated", "reminded"]
    assert alert.alert_id in w.store.timers


async def test_acknowledgement_stops_escalation() -> None:
    w = world()
    alert = await raise_one(w, Severity.CRITICAL)
    acked = await w.service.acknowledge(
        principal("head_teacher", username="head.teacher"), str(alert.alert_id)
    )
    assert acked.status is AlertStatus.ACKNOWLEDGED
    assert alert.alert_id not in w.store.timers
    w.clock.advance(timedelta(hours=5))
    async with w.transactions() as tx:
        assert await w.router.escalate_due(tx) == 0
    assert w.store.alerts[alert.alert_id].level is Level.SCHOOL
    assert any(isinstance(e, events.AlertAcknowledged) for e in w.store.events)


async def test_someone_neither_told_nor_in_scope_cannot_acknowledge() -> None:
    w = world()
    alert = await raise_one(w, Severity.HIGH)
    with pytest.raises(PermissionDenied):
        await w.service.acknowledge(
            principal("head_teacher", username="other.teacher", org_unit="3607020002"),
            str(alert.alert_id),
        )


async def test_a_city_auditor_may_read_an_alert_but_never_silence_it() -> None:
    w = world()
    alert = await raise_one(w, Severity.HIGH)
    auditor = principal("auditor", username="auditor.demo", org_unit="360700")
    assert (
        await w.service.get_alert(auditor, str(alert.alert_id))
    ).alert.alert_id == alert.alert_id
    with pytest.raises(PermissionDenied):
        await w.service.acknowledge(auditor, str(alert.alert_id))
    assert w.store.alerts[alert.alert_id].status is AlertStatus.OPEN
    assert alert.alert_id in w.store.timers


async def test_responders_are_resolved_at_the_moment_of_routing() -> None:
    w = world()
    alert = await raise_one(w, Severity.CRITICAL)
    student = alert.student
    # The school's psychology teacher changes after the alert was raised, before escalation.
    changed = tuple(
        Responder("new.admin", "p9", Level.SCHOOL, "school_admin")
        if r.role == "school_admin"
        else r
        for r in responders_of(student)
    )
    w.responders.enrol(student, changed)
    w.clock.advance(timedelta(minutes=10))
    async with w.transactions() as tx:
        await w.router.escalate_due(tx)
    assert "new.admin" in recipients(w, alert)
    assert "school.admin" not in recipients(w, alert)


async def test_a_level_with_nobody_is_skipped_and_recorded() -> None:
    w = world()
    student = place()
    only_county = tuple(r for r in responders_of(student) if r.level is Level.COUNTY)
    w.responders.enrol(student, only_county)
    alert = Alert(
        uuid4(),
        student,
        Severity.CRITICAL,
        Source.SCREENING,
        "screening",
        Category.OTHER,
        w.clock.now(),
    )
    async with w.transactions() as tx:
        await w.router.raise_alert(tx, alert)
    routed = [(r.level, r.reason) for r in w.store.routings]
    assert routed == [
        (Level.SCHOOL, "skipped-no-responders"),
        (Level.FAMILY, "skipped-no-responders"),
        (Level.COUNTY, "raised"),
    ]
    assert recipients(w, alert) == {"county.counsellor", "county.admin"}


async def test_a_stale_timer_after_acknowledgement_does_nothing() -> None:
    w = world()
    alert = await raise_one(w, Severity.HIGH)
    async with w.transactions() as tx:
        stored = await tx.get_alert(alert.alert_id)
        assert stored is not None
        stored.status = AlertStatus.ACKNOWLEDGED
        await tx.save_alert(stored)
    w.clock.advance(timedelta(hours=1))
    async with w.transactions() as tx:
        await w.router.escalate_due(tx)
    assert alert.alert_id not in w.store.timers
    assert not [e for e in w.store.events if isinstance(e, events.AlertEscalated)]


async def test_a_critical_alert_opens_a_case_owned_by_the_psychology_teacher() -> None:
    w = world()
    alert = await raise_one(w, Severity.CRITICAL)
    stored = w.store.alerts[alert.alert_id]
    case = w.store.cases[stored.case_id]
    assert case.owner == "psych.teacher"
    assert case.student.school_code == SCHOOL
    assert any(isinstance(e, events.CaseOpened) for e in w.store.events)


async def test_a_high_alert_opens_no_case_by_policy() -> None:
    w = world()
    alert = await raise_one(w, Severity.HIGH)
    assert not w.store.alerts[alert.alert_id].case_id
    assert not w.store.cases
