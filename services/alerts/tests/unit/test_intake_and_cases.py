"""Partner reports (dedupe, review tasks for every outcome but EXACT, malformed messages),
screening signals, people's reports (protected reporters), crisis cases and scope."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from alerts_fakes import COUNTY, OTHER_SCHOOL, SCHOOL, SERVICE, World, place, principal, world

from alerts.adapters.messaging.unit_reports import UnitReportDecoder, load_schema, report_id
from alerts.domain import events
from alerts.domain.intake import ScreeningSignal, external_id_of
from alerts.domain.model import (
    Alert,
    CaseStepKind,
    Category,
    Match,
    MatchOutcome,
    ReceiptStatus,
    ReviewKind,
    ReviewStatus,
    ReviewTask,
    Severity,
    UnitReport,
)
from alerts.domain.service import NewReport, Resolution
from xinyu_core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from xinyu_core.messaging import PoisonMessage

POLICE = "unit-police-360702"
NUMBER = "G360702201001011234"


def report(external_id: str = "P-1", number: str = NUMBER) -> UnitReport:
    return UnitReport(
        report_id=report_id(POLICE, external_id),
        unit=POLICE,
        external_id=external_id,
        occurred_at=datetime(2026, 11, 28, 9, tzinfo=UTC),
        category=Category.ONLINE_RISK,
        severity_hint=None,
        description="discussed methods online",
        student_number=number,
        resident_id="",
        full_name="",
        contact_name="Officer",
        contact_phone="0797-1234567",
        raw=b'{"external_id": "P-1"}',
    )


def receipts(w: World) -> list[tuple[str, ReceiptStatus]]:
    return [(e.external_id, e.status) for e in w.store.events if isinstance(e, events.Receipt)]


def known_student(w: World) -> None:
    student = place()
    w.responders.enrol(student)
    w.matcher.by_number[NUMBER] = Match(MatchOutcome.EXACT, student)


async def test_an_exact_match_becomes_an_alert_that_reaches_the_psychology_teacher() -> None:
    w = world()
    known_student(w)
    async with w.transactions() as tx:
        outcome = await w.intake.on_unit_report(tx, report())
    assert isinstance(outcome, Alert)
    assert outcome.severity is Severity.HIGH  # the policy's floor for online risk
    assert outcome.student.school_code == SCHOOL
    told = {n.recipient for n in w.store.notifications.values()}
    assert "psych.teacher" in told
    assert receipts(w) == [("P-1", ReceiptStatus.RECEIVED), ("P-1", ReceiptStatus.MATCHED)]


async def test_a_repeat_of_the_same_external_id_changes_nothing() -> None:
    w = world()
    known_student(w)
    async with w.transactions() as tx:
        await w.intake.on_unit_report(tx, report())
    before = (len(w.store.alerts), len(w.store.events), len(w.store.notifications))
    async with w.transactions() as tx:
        assert await w.intake.on_unit_report(tx, report()) is None
    assert (len(w.store.alerts), len(w.store.events), len(w.store.notifications)) == before


async def test_a_batch_of_reports_asks_identity_once_and_accounts_for_each_in_order() -> None:
    w = world()
    known_student(w)
    batch = [
        report("P-1"),
        report("P-2", number="G360702201001019999"),  # nobody has this number
        report("P-3"),
        report("P-1"),  # the same external id twice in one batch
    ]
    async with w.transactions() as tx:
        outcomes = await w.intake.on_unit_reports(tx, batch)

    assert [type(o) for o in outcomes] == [Alert, ReviewTask, Alert]
    assert w.matcher.batches == [3]  # one call for the three new reports
    assert w.responders.calls == 1  # one lookup for every matched student
    assert len(w.store.alerts) == 2
    assert len(w.store.reviews) == 1
    assert sorted(receipts(w)) == sorted(
        [
            ("P-1", ReceiptStatus.RECEIVED),
            ("P-2", ReceiptStatus.RECEIVED),
            ("P-3", ReceiptStatus.RECEIVED),
            ("P-1", ReceiptStatus.MATCHED),
            ("P-2", ReceiptStatus.IN_REVIEW),
            ("P-3", ReceiptStatus.MATCHED),
        ]
    )
    # Each report is linked to what it became.
    links = {w.store.unit_reports[(POLICE, o)].report_id for o in ("P-1", "P-2", "P-3")}
    assert links == set(w.store.report_links)


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (MatchOutcome.NONE, ReviewKind.NO_MATCH),
        (MatchOutcome.UNCERTAIN, ReviewKind.UNCERTAIN),
        (MatchOutcome.INVALID, ReviewKind.INVALID_IDENTIFIER),
    ],
)
async def test_anything_but_an_exact_match_becomes_a_review_task(
    outcome: MatchOutcome, kind: ReviewKind
) -> None:
    w = world()
    w.matcher.by_number[NUMBER] = Match(outcome, reason="resident_id: check digit")
    async with w.transactions() as tx:
        task = await w.intake.on_unit_report(tx, report())
    assert isinstance(task, ReviewTask)
    assert task.kind is kind
    assert task.scope_code == COUNTY
    assert not w.store.alerts
    assert receipts(w)[-1] == ("P-1", ReceiptStatus.IN_REVIEW)


async def test_a_malformed_message_raises_one_review_task_per_position() -> None:
    w = world()
    raw = b'{"external_id": "P-9", "category": 12'
    async with w.transactions() as tx:
        task = await w.intake.on_malformed(tx, POLICE, "t:0:5", raw, "undecodable:not-json")
    assert task is not None
    assert task.kind is ReviewKind.MALFORMED
    async with w.transactions() as tx:
        assert await w.intake.on_malformed(tx, POLICE, "t:0:5", raw, "x") is None
    assert len(w.store.reviews) == 1
    assert receipts(w) == [("", ReceiptStatus.REJECTED)]


def test_the_external_id_of_a_bad_message_is_echoed_only_if_it_looks_like_one() -> None:
    assert external_id_of(b'{"external_id": "P-9", "x": }') == ""
    assert external_id_of(b'{"external_id": "P-9"}') == "P-9"
    assert external_id_of(b'{"external_id": "G360702 Zhang San"}') == ""
    assert external_id_of(b"\xff") == ""


async def test_attaching_a_review_task_raises_the_alert_at_the_students_school() -> None:
    w = world()
    async with w.transactions() as tx:
        task = await w.intake.on_unit_report(tx, report())
    assert isinstance(task, ReviewTask)
    student = place()
    w.responders.enrol(student)
    counsellor = principal("county_counsellor", org_unit=COUNTY)
    resolved, alert = await w.service.resolve_review(
        counsellor, str(task.task_id), Resolution(student_id=str(student.student_id))
    )
    assert resolved.status is ReviewStatus.ATTACHED
    assert alert is not None
    assert alert.student == student
    with pytest.raises(FailedPrecondition):
        await w.service.resolve_review(
            counsellor, str(task.task_id), Resolution(dismiss_reason="duplicate")
        )
    assert w.store.audits[-1][1] == "review-task"


async def test_dismissing_needs_a_reason_and_sends_a_closed_receipt() -> None:
    w = world()
    async with w.transactions() as tx:
        task = await w.intake.on_unit_report(tx, report())
    assert isinstance(task, ReviewTask)
    counsellor = principal("county_counsellor", org_unit=COUNTY)
    with pytest.raises(InvalidArgument):
        await w.service.resolve_review(counsellor, str(task.task_id), Resolution())
    await w.service.resolve_review(
        counsellor, str(task.task_id), Resolution(dismiss_reason="not-a-student")
    )
    assert receipts(w)[-1] == ("P-1", ReceiptStatus.CLOSED)


async def test_review_tasks_belong_to_the_units_county_and_the_city() -> None:
    w = world()
    async with w.transactions() as tx:
        await w.intake.on_unit_report(tx, report())
    assert (
        len(await w.service.list_reviews(principal("county_counsellor", org_unit=COUNTY), [], 0))
        == 1
    )
    assert not await w.service.list_reviews(
        principal("county_counsellor", org_unit="360703"), [], 0
    )
    assert len(await w.service.list_reviews(principal("city_admin", org_unit="360700"), [], 0)) == 1
    with pytest.raises(PermissionDenied):
        await w.service.list_reviews(principal("psych_teacher"), [], 0)


async def test_a_flagged_screening_result_raises_a_critical_alert_with_a_case() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    signal = ScreeningSignal(student, str(uuid4()), True, "red", w.clock.now())
    async with w.transactions() as tx:
        alert = await w.intake.on_screening(tx, signal)
    assert alert is not None
    assert alert.severity is Severity.CRITICAL
    assert alert.case_id


async def test_a_confirmed_level_alerts_only_when_the_policy_says_so() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    async with w.transactions() as tx:
        assert (
            await w.intake.on_screening(
                tx, ScreeningSignal(student, "s", False, "yellow", w.clock.now())
            )
            is None
        )
        high = await w.intake.on_screening(
            tx, ScreeningSignal(student, "s", False, "orange", w.clock.now())
        )
    assert high is not None
    assert high.severity is Severity.HIGH


async def raise_protected(w: World) -> Alert:
    student = place()
    w.responders.enrol(student)
    reporter = principal("subject_teacher", username="brave.teacher", subject=str(uuid4()))
    return await w.service.raise_report(
        reporter,
        NewReport(str(student.student_id), Category.BULLYING, None, "seen in the yard", True, None),
    )


async def test_a_protected_reporter_is_hidden_from_all_but_the_case_owner() -> None:
    w = world()
    alert = await raise_protected(w)
    assert alert.case_id  # a protected report always has an owner who may know the reporter
    admin = principal("school_admin")
    seen = await w.service.get_alert(admin, str(alert.alert_id))
    assert seen.alert.reporter == ""
    owner = principal("psych_teacher", username="psych.teacher")
    assert (await w.service.get_alert(owner, str(alert.alert_id))).alert.reporter == alert.reporter
    assert (await w.service.get_case(owner, alert.case_id)).protected_reporter == alert.reporter
    assert (await w.service.get_case(admin, alert.case_id)).protected_reporter == ""
    listed = await w.service.list_alerts(admin, "", [], "", 50, None)
    assert [a.reporter for a in listed] == [""]
    assert [a.description for a in listed] == [""]


async def test_only_violence_abuse_or_bullying_may_be_protected() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    with pytest.raises(InvalidArgument):
        await w.service.raise_report(
            principal("head_teacher"),
            NewReport(str(student.student_id), Category.CONFLICT, None, "x", True, None),
        )


async def test_a_guardian_reports_only_about_their_own_child() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    mine = NewReport(str(student.student_id), Category.WITHDRAWAL, None, "quiet", False, None)
    alert = await w.service.raise_report(
        principal("guardian", org_unit="", username="guardian"), mine
    )
    assert alert.severity is Severity.LOW
    with pytest.raises(PermissionDenied):
        await w.service.raise_report(principal("guardian", org_unit="", username="stranger"), mine)


async def test_self_harm_signs_are_at_least_high_whatever_the_reporter_says() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    alert = await w.service.raise_report(
        principal("health_committee"),
        NewReport(
            str(student.student_id), Category.SELF_HARM_SIGNS, Severity.LOW, "cuts", False, None
        ),
    )
    assert alert.severity is Severity.HIGH


async def test_case_steps_start_with_guardian_contact_and_closure_needs_a_summary() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    signal = ScreeningSignal(student, "s", True, "red", w.clock.now())
    async with w.transactions() as tx:
        alert = await w.intake.on_screening(tx, signal)
    assert alert is not None
    owner = principal("psych_teacher", username="psych.teacher")
    with pytest.raises(FailedPrecondition):
        await w.service.record_step(owner, alert.case_id, CaseStepKind.ASSESSMENT, "x", None)
    with pytest.raises(FailedPrecondition):
        await w.service.close_case(owner, alert.case_id, "done")
    await w.service.record_step(owner, alert.case_id, CaseStepKind.GUARDIAN_CONTACT, "called", None)
    await w.service.record_step(owner, alert.case_id, CaseStepKind.ASSESSMENT, "joint", None)
    await w.service.record_step(owner, alert.case_id, CaseStepKind.REFERRAL, "hospital", None)
    with pytest.raises(InvalidArgument):
        await w.service.close_case(owner, alert.case_id, "   ")
    with pytest.raises(InvalidArgument):
        await w.service.record_step(owner, alert.case_id, CaseStepKind.CLOSURE, "x", None)
    case = await w.service.close_case(owner, alert.case_id, "stable, monitored")
    assert [s.kind for s in case.steps] == [
        CaseStepKind.GUARDIAN_CONTACT,
        CaseStepKind.ASSESSMENT,
        CaseStepKind.REFERRAL,
        CaseStepKind.CLOSURE,
    ]
    assert all(s.actor == owner.subject for s in case.steps)
    with pytest.raises(FailedPrecondition):
        await w.service.record_step(owner, alert.case_id, CaseStepKind.MONITORING, "x", None)
    assert any(isinstance(e, events.CaseClosed) for e in w.store.events)


async def test_cases_and_alerts_are_out_of_reach_of_another_school() -> None:
    w = world()
    alert = await raise_protected(w)
    stranger = principal("psych_teacher", org_unit=OTHER_SCHOOL, username="elsewhere")
    with pytest.raises(PermissionDenied):
        await w.service.get_alert(stranger, str(alert.alert_id))
    with pytest.raises(PermissionDenied):
        await w.service.get_case(stranger, alert.case_id)
    with pytest.raises(PermissionDenied):
        await w.service.record_step(
            stranger, alert.case_id, CaseStepKind.GUARDIAN_CONTACT, "x", None
        )
    with pytest.raises(PermissionDenied):
        await w.service.list_alerts(stranger, SCHOOL, [], "", 50, None)
    county = principal("county_counsellor", org_unit=COUNTY)
    await w.service.get_alert(county, str(alert.alert_id))
    assert ("alerts.get-alert", "alert", str(alert.alert_id)) in w.store.audits


async def test_a_locate_request_goes_to_the_police_unit_of_the_students_county() -> None:
    w = world()
    student = place()
    w.responders.enrol(student)
    request = await w.service.request_locate_help(
        principal("psych_teacher"), str(student.student_id), "", None, "last seen", "0797-1"
    )
    assert request.unit == POLICE
    assert any(isinstance(e, events.LocateRequested) for e in w.store.events)
    with pytest.raises(PermissionDenied):
        await w.service.request_locate_help(
            principal("head_teacher"), str(student.student_id), "", None, "x", "y"
        )
    assert SERVICE.is_service


def decoder() -> UnitReportDecoder:
    from jsonschema import Draft202012Validator, FormatChecker

    return UnitReportDecoder(
        "alerts.unit-police-360702.reported.v1",
        Draft202012Validator(load_schema(), format_checker=FormatChecker()),
    )


def valid_document() -> dict[str, object]:
    return {
        "schema_version": "alert-report.v1",
        "external_id": "P-2026-0001",
        "occurred_at": "2026-11-28T09:30:00+08:00",
        "category": "online_risk",
        "severity_hint": "critical",
        "description": "a student discussed methods in a group chat",
        "student": {"student_number": NUMBER.lower(), "name": "张三"},
        "contact": {"name": "Duty desk", "phone": "0797-8888888"},
        # A unit cannot choose who it is: a "unit" field is refused by the schema.
    }


def test_a_valid_message_is_normalised_with_the_unit_of_the_topic() -> None:
    message = decoder()(json.dumps(valid_document()).encode())
    assert message.unit == POLICE
    assert message.student_number == NUMBER
    assert message.meta.event_id == str(report_id(POLICE, "P-2026-0001"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"unit": "unit-cyberspace-360700"}, "schema:document:additionalproperties"),
        ({"external_id": ""}, "schema:external_id:pattern"),
        ({"student": {"name": "张三"}}, "schema:student:anyof"),
        ({"category": "gossip"}, "schema:category:enum"),
        ({"occurred_at": "yesterday"}, "schema:occurred_at"),
    ],
)
def test_invalid_messages_are_poison_with_a_reason_naming_where_not_what(
    change: dict[str, object], reason: str
) -> None:
    document = {**valid_document(), **change}
    with pytest.raises(PoisonMessage) as caught:
        decoder()(json.dumps(document).encode())
    assert caught.value.reason.startswith(reason)
    assert "张三" not in caught.value.reason


def test_not_json_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="not-json"):
        decoder()(b"{not json")
