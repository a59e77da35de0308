"""Alerts on the running platform, through the gateway with real Keycloak tokens and through
the broker as the partner units themselves:

- a flagged PHQ-A result becomes a critical alert told to the class's head teacher and the
  school's psychology teacher, who acknowledges it (the timer stops); left unacknowledged, one
  escalates when its deadline passes;
- the police unit's report naming a student by number reaches the school's psychology teacher,
  and the unit gets its receipts; malformed JSON is a dead letter with its reason and a review
  task for the county; an unknown student a review task; a repeated external id nothing; the
  police writing the cyberspace office's topic is refused by the broker;
- a protected report (R23) hides its reporter from everyone but the handling counsellor;
- a crisis case starts with guardian contact, takes steps, and closes only with a summary;
- the school asks police to help locate a missing student, and only that unit reads it;
- at the end, every message this module sent to the police topic is accounted for exactly once.

Students are invented afresh for each run (a roster upload), so a used stack is no obstacle.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaError

from xinyu_e2e import GATEWAY_URL, auth
from xinyu_e2e.alerts import (
    CYBERSPACE_REPORTS,
    POLICE,
    POLICE_DLQ,
    POLICE_LOCATES,
    POLICE_RECEIPTS,
    POLICE_REPORTS,
    FreshStudent,
    Record,
    UnitProducer,
    encode,
    ends,
    enrol_fresh_students,
    read,
    report,
    review_tasks,
    subject,
    wait_for_alerts,
    wait_for_task,
)
from xinyu_e2e.screening import (
    ScreeningWorld,
    close_campaign,
    ensure_screening_world,
    join,
    junior_cohort,
    ok,
    open_campaign,
    phq_a_answers,
    sitting_auth,
    start_sitting,
    submission,
)
from xinyu_e2e.seed import DEMO_COUNTY, DEMO_SCHOOL

pytestmark = pytest.mark.e2e

# An escalation can be watched only when the running policy's first deadline is this short
# (the shipped policy gives a critical alert 10 minutes).
WATCHABLE_DEADLINE_SECONDS = 90
# How long a flag may wait behind others before alerts raises it.
FLAG_BACKLOG_SECONDS = 300.0


@dataclass
class Ledger:
    """What this module sent to the police topic, and what each message must have become."""

    # external id → the receipt statuses it must get (a repeat adds nothing)
    receipts: dict[str, set[str]] = field(default_factory=dict)
    # external id → the student whose one alert it must have raised
    alerts: dict[str, str] = field(default_factory=dict)
    # external id → the one review task it must have raised
    tasks: dict[str, str] = field(default_factory=dict)
    # review task ids of messages too broken to carry an external id
    unreadable: list[str] = field(default_factory=list)
    sent: int = 0
    repeats: int = 0


@dataclass
class Module:
    gateway: httpx.Client
    world: ScreeningWorld
    students: list[FreshStudent]
    police: UnitProducer
    receipts_since: dict[int, int]
    ledger: Ledger = field(default_factory=Ledger)

    def student(self, index: int) -> FreshStudent:
        return self.students[index]

    def send(self, value: bytes, *, repeat: bool = False, key: bytes | None = None) -> None:
        self.police.send(POLICE_REPORTS, value, key)
        assert self.police.flush() == 0
        assert not self.police.errors, self.police.errors
        self.ledger.sent += 1
        self.ledger.repeats += int(repeat)


# Which fresh student each test uses.
FLAG_ACKNOWLEDGED, FLAG_UNACKNOWLEDGED, UNIT_REPORT, PROTECTED, CRISIS, MISSING = range(6)


@pytest.fixture(scope="module")
def module() -> Iterator[Module]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as gateway:
        world = ensure_screening_world(gateway)
        students = enrol_fresh_students(gateway, 6, cohort=junior_cohort())
        yield Module(
            gateway=gateway,
            world=world,
            students=students,
            police=UnitProducer(POLICE),
            receipts_since=ends(POLICE, POLICE_RECEIPTS),
        )


def get(gateway: httpx.Client, path: str, user: str) -> dict[str, Any]:
    reply = gateway.get(path, headers=auth(user))
    body = ok(reply, 200)
    assert reply.headers["cache-control"] == "no-store"
    return body


def receipts(module: Module, wanted: dict[str, int], timeout: float = 60.0) -> list[Record]:
    """The police unit's receipts since the module began, read as the unit, until each
    external id in ``wanted`` has at least that many."""

    def complete(found: list[Record]) -> bool:
        counts = Counter(r.json().get("external_id") for r in found)
        return all(counts[external_id] >= n for external_id, n in wanted.items())

    return read(POLICE, POLICE_RECEIPTS, module.receipts_since, complete, timeout)


def statuses(records: list[Record], external_id: str) -> set[str]:
    """The receipt statuses one report got. A set, not a sequence: a ``closed`` receipt quotes
    no report reference, so it is keyed apart and may come first on another partition; the
    outbox relay delivers at least once; and an alerts harness of the service's own
    integration tests or benchmark, reading the live topic under a group of its own while this
    runs, writes receipts of its own. Exactly once is counted on what the platform holds,
    through the gateway (the last test)."""
    return {r.json()["status"] for r in records if r.json().get("external_id") == external_id}


# --- screening → alert → acknowledgement / escalation --------------------------------------


@pytest.fixture(scope="module")
def flagged(module: Module) -> Iterator[dict[str, str]]:
    """Two fresh students of the junior class answer PHQ-A item 9 in a sitting of a new
    campaign: student id → the alert screening's flag raised."""
    gateway = module.gateway
    campaign = open_campaign(gateway)
    sitting = start_sitting(gateway, campaign, module.world.class_code)
    found: dict[str, str] = {}
    for index in (FLAG_ACKNOWLEDGED, FLAG_UNACKNOWLEDGED):
        student = module.student(index).student_id
        code = sitting["codes"][student]
        token = ok(join(gateway, sitting["sitting"]["join_code"], code))["sitting_token"]
        ok(
            gateway.post(
                "/v1/screening/sittings/submissions",
                json=submission(phq_a_answers(item9=2)),
                headers=sitting_auth(token),
            ),
            201,
        )
    for index in (FLAG_ACKNOWLEDGED, FLAG_UNACKNOWLEDGED):
        student = module.student(index).student_id
        # Screening's flags queue behind any others (a whole county's screening day).
        (alert,) = wait_for_alerts(gateway, student, timeout=FLAG_BACKLOG_SECONDS)
        found[student] = alert["alert_id"]
    yield found
    close_campaign(gateway, campaign)


def test_a_flagged_result_raises_a_critical_alert_the_psychology_teacher_acknowledges(
    module: Module, flagged: dict[str, str]
) -> None:
    gateway = module.gateway
    student = module.student(FLAG_ACKNOWLEDGED).student_id
    alert_id = flagged[student]
    view = get(gateway, f"/v1/alerts/{alert_id}", "psych.teacher")
    alert = view["alert"]
    assert (alert["source"], alert["category"], alert["severity"]) == (
        "screening",
        "screening_flag",
        "critical",
    )
    assert (alert["status"], alert["level"], alert["school_code"]) == (
        "open",
        "school",
        DEMO_SCHOOL,
    )
    assert alert["class_code"] == module.world.class_code
    assert alert["acknowledge_by"] is not None
    assert alert["case_id"].startswith("case-"), "R9: a critical alert opens a crisis case"
    assert [(r["level"], r["reason"]) for r in view["routing"]] == [("school", "raised")]
    told = {(n["recipient"], n["role"]) for n in view["notifications"]}
    assert {("psych.teacher", "psych_teacher"), ("head.teacher", "head_teacher")} <= told
    # The head teacher it was routed to may read it; another county may not.
    assert gateway.get(f"/v1/alerts/{alert_id}", headers=auth("head.teacher")).status_code == 200
    assert gateway.get(f"/v1/alerts/{alert_id}", headers=auth("nankang.admin")).status_code == 403

    acknowledged = ok(
        gateway.post(f"/v1/alerts/{alert_id}/acknowledgement", headers=auth("psych.teacher")), 200
    )
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] == subject("psych.teacher")
    assert acknowledged["acknowledged_at"] is not None
    assert acknowledged["acknowledge_by"] is None, "the escalation timer stopped"
    # Twice is allowed and changes nothing, whoever it was routed to.
    again = ok(
        gateway.post(f"/v1/alerts/{alert_id}/acknowledgement", headers=auth("head.teacher")), 200
    )
    assert (again["acknowledged_by"], again["acknowledged_at"]) == (
        acknowledged["acknowledged_by"],
        acknowledged["acknowledged_at"],
    )
    listed = wait_for_alerts(gateway, student)
    assert [a["status"] for a in listed] == ["acknowledged"]
    assert listed[0]["description"] == ""


def test_an_unacknowledged_flag_escalates_when_its_deadline_passes(
    module: Module, flagged: dict[str, str]
) -> None:
    gateway = module.gateway
    alert_id = flagged[module.student(FLAG_UNACKNOWLEDGED).student_id]
    alert = get(gateway, f"/v1/alerts/{alert_id}", "psych.teacher")["alert"]
    raised = datetime.fromisoformat(alert["raised_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(alert["acknowledge_by"].replace("Z", "+00:00"))
    deadline = (due - raised).total_seconds()
    assert alert["status"] == "open"
    assert deadline > 0
    # The local stack runs infra/local/alerts-policy.yaml, whose first critical step is short
    # enough to watch; a longer one would make this test wait for minutes, so it says so.
    assert deadline <= WATCHABLE_DEADLINE_SECONDS, (
        f"the running policy gives a critical alert {deadline:.0f}s before it escalates;"
        " the local stack's ALERTS_POLICY_PATH should point at infra/local/alerts-policy.yaml"
    )
    view: dict[str, Any] = {}
    until = time.monotonic() + deadline + 30
    while time.monotonic() < until:
        view = get(gateway, f"/v1/alerts/{alert_id}", "psych.teacher")
        if any(r["reason"] == "escalated" for r in view["routing"]):
            break
        time.sleep(1.0)
    reasons = [r["reason"] for r in view["routing"]]
    assert "escalated" in reasons, view["routing"]
    assert view["alert"]["level"] != "school"
    assert view["alert"]["status"] == "open"
    # The next step of the critical ladder tells the school's admin (the family level).
    assert "school.admin" in {n["recipient"] for n in view["notifications"]}


# --- partner units over Kafka --------------------------------------------------------------


def test_a_police_report_reaches_the_psychology_teacher_and_the_unit_gets_receipts(
    module: Module,
) -> None:
    student = module.student(UNIT_REPORT)
    external_id = f"ZG-{uuid.uuid4().hex[:12]}"
    module.send(encode(report(external_id, number=student.student_number, name=student.full_name)))
    module.ledger.receipts[external_id] = {"received", "matched"}
    module.ledger.alerts[external_id] = student.student_id

    (listed,) = wait_for_alerts(module.gateway, student.student_id)
    assert (listed["source"], listed["source_ref"], listed["category"]) == (
        "unit",
        POLICE,
        "online_risk",
    )
    assert listed["severity"] == "high"
    view = get(module.gateway, f"/v1/alerts/{listed['alert_id']}", "psych.teacher")
    assert view["alert"]["description"] == "joined an online group that shares self-harm methods"
    assert view["alert"]["reporter"] == ""
    assert "psych.teacher" in {n["recipient"] for n in view["notifications"]}

    found = receipts(module, {external_id: 2})
    assert statuses(found, external_id) == {"received", "matched"}
    references = {r.json()["reference"] for r in found if r.json()["external_id"] == external_id}
    assert len(references) == 1, "both receipts quote the same report"


def test_malformed_json_is_a_dead_letter_with_its_reason_and_a_review_task(
    module: Module,
) -> None:
    dlq_since = ends("alerts", POLICE_DLQ)
    marker = uuid.uuid4().hex
    module.send(f'{{"external_id": "ZG-{marker}", "category": '.encode())
    letters = read(
        "alerts",
        POLICE_DLQ,
        dlq_since,
        lambda found: any(marker.encode() in r.value for r in found),
    )
    (letter,) = [r for r in letters if marker.encode() in r.value]
    assert letter.headers["x-dlq-reason"] == "undecodable:not-json"
    assert letter.headers["x-dlq-original-topic"] == POLICE_REPORTS

    # The unit is told it was rejected (there is no external id to quote): the receipt quotes
    # the review task it raised, which the county's reviewer sees.
    task: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while not task and time.monotonic() < deadline:
        rejected = {
            r.json()["reference"]: r.json()
            for r in read(POLICE, POLICE_RECEIPTS, module.receipts_since)
            if r.json()["status"] == "rejected" and r.json()["external_id"] is None
        }
        live = [t for t in review_tasks(module.gateway) if t["task_id"] in rejected]
        task = next((t for t in live if t["task_id"] not in module.ledger.unreadable), {})
        time.sleep(0.0 if task else 0.5)
    assert task, "no rejected receipt quotes a review task the county sees"
    task_id = task["task_id"]
    assert rejected[task_id]["reason"] == "undecodable:not-json"
    module.ledger.unreadable.append(task_id)

    # Another county's reviewer does not see it, nor does the school.
    assert (task["kind"], task["status"], task["unit"]) == ("malformed", "open", POLICE)
    assert task["raw_message"] == "", "lists never carry the raw message"
    assert task_id not in {t["task_id"] for t in review_tasks(module.gateway, "nankang.admin")}
    assert module.gateway.get("/v1/review-tasks", headers=auth("school.admin")).status_code == 403

    # Valid JSON that breaks the schema: rejected, with its external id and where it failed.
    external_id = f"ZG-{uuid.uuid4().hex[:12]}"
    broken = report(external_id, number=module.student(UNIT_REPORT).student_number)
    del broken["contact"]
    module.send(encode(broken))
    module.ledger.receipts[external_id] = {"rejected"}
    task = wait_for_task(module.gateway, lambda t: t["external_id"] == external_id)
    assert task["kind"] == "malformed"
    module.ledger.tasks[external_id] = task["task_id"]
    found = receipts(module, {external_id: 1})
    (receipt,) = [
        r.json()
        for r in found
        if r.json()["external_id"] == external_id and r.json()["reference"] == task["task_id"]
    ]
    assert (receipt["status"], receipt["reason"]) == (
        "rejected",
        "undecodable:schema:document:required",
    )


def test_an_unknown_student_becomes_a_review_task_never_a_drop(module: Module) -> None:
    external_id = f"ZG-{uuid.uuid4().hex[:12]}"
    module.send(encode(report(external_id, number="G360702201300000000", category="missing")))
    module.ledger.receipts[external_id] = {"received", "in_review", "closed"}
    found = receipts(module, {external_id: 2})
    assert statuses(found, external_id) == {"received", "in_review"}
    task = wait_for_task(module.gateway, lambda t: t["external_id"] == external_id)
    assert (task["kind"], task["status"], task["unit"]) == ("no_match", "open", POLICE)
    module.ledger.tasks[external_id] = task["task_id"]

    # The county's reviewer dismisses it; the decrypted report comes back once, uncached.
    resolved = module.gateway.post(
        f"/v1/review-tasks/{task['task_id']}/resolution",
        json={"dismiss_reason": "not-a-student"},
        headers=auth("zhanggong.admin"),
    )
    assert ok(resolved, 200)["task"]["status"] == "dismissed"
    assert resolved.headers["cache-control"] == "no-store"
    assert external_id in resolved.json()["task"]["raw_message"]
    again = module.gateway.post(
        f"/v1/review-tasks/{task['task_id']}/resolution",
        json={"dismiss_reason": "not-a-student"},
        headers=auth("city.admin"),
    )
    assert again.status_code == 409, again.text
    found = receipts(module, {external_id: 3})
    assert statuses(found, external_id) == {"received", "in_review", "closed"}


def test_a_repeated_external_id_changes_nothing(module: Module) -> None:
    student = module.student(UNIT_REPORT)
    (external_id,) = [e for e, s in module.ledger.alerts.items() if s == student.student_id]
    # The repeat, then a later message on the same partition (one key): once the later one
    # has its receipts, alerts has read the repeat before it.
    key = f"e2e-{uuid.uuid4().hex[:8]}".encode()
    module.send(encode(report(external_id, number=student.student_number)), repeat=True, key=key)
    later = f"ZG-{uuid.uuid4().hex[:12]}"
    module.send(encode(report(later, number="G360702201300000001", category="conflict")), key=key)
    module.ledger.receipts[later] = {"received", "in_review"}
    receipts(module, {later: 2})
    task = wait_for_task(module.gateway, lambda t: t["external_id"] == later)
    module.ledger.tasks[later] = task["task_id"]
    everything = read(POLICE, POLICE_RECEIPTS, module.receipts_since)
    assert statuses(everything, external_id) == {"received", "matched"}
    assert len(wait_for_alerts(module.gateway, student.student_id)) == 1


def test_the_police_writing_the_cyberspace_offices_topic_is_refused_by_the_broker() -> None:
    police = UnitProducer(POLICE)
    police.send(CYBERSPACE_REPORTS, encode(report("ZG-not-ours", number="G360702201300000000")))
    police.flush(30)
    assert [error.code() for error in police.errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


# --- people's reports ----------------------------------------------------------------------


def test_a_protected_report_hides_the_reporter_from_all_but_the_handling_counsellor(
    module: Module,
) -> None:
    gateway = module.gateway
    student = module.student(PROTECTED).student_id
    raised = gateway.post(
        "/v1/alerts",
        json={
            "student_id": student,
            "category": "bullying",
            "description": "older pupils take her lunch money behind the gym",
            "protected_report": True,
        },
        headers=auth("head.teacher"),
    )
    alert = ok(raised, 201)
    assert raised.headers["cache-control"] == "no-store"
    assert alert["protected_report"] is True
    assert alert["case_id"], "a protected report always has a case: its owner may know who"
    alert_id, case_id = alert["alert_id"], alert["case_id"]
    reporter = subject("head.teacher")

    owner_case = get(gateway, f"/v1/cases/{case_id}", "psych.teacher")
    assert owner_case["owner"] == "psych.teacher"
    assert owner_case["protected_reporter"] == reporter
    assert get(gateway, f"/v1/alerts/{alert_id}", "psych.teacher")["alert"]["reporter"] == reporter
    for user in ("school.admin", "zhanggong.admin", "city.admin"):
        assert get(gateway, f"/v1/alerts/{alert_id}", user)["alert"]["reporter"] == "", user
        assert get(gateway, f"/v1/cases/{case_id}", user)["protected_reporter"] == "", user
    # The reporter's own view and every listing say nothing of who reported either.
    assert get(gateway, f"/v1/alerts/{alert_id}", "head.teacher")["alert"]["reporter"] == ""
    for user in ("psych.teacher", "school.admin"):
        listed = wait_for_alerts(gateway, student, user=user)
        assert [a["reporter"] for a in listed] == [""]
    # Only reports of violence, abuse or bullying may be protected.
    refused = gateway.post(
        "/v1/alerts",
        json={
            "student_id": student,
            "category": "withdrawal",
            "description": "keeps to herself",
            "protected_report": True,
        },
        headers=auth("head.teacher"),
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "protected_report"]


def test_a_crisis_case_starts_with_the_guardians_and_closes_with_a_summary(
    module: Module,
) -> None:
    gateway = module.gateway
    student = module.student(CRISIS).student_id
    alert = ok(
        gateway.post(
            "/v1/alerts",
            json={
                "student_id": student,
                "category": "suicide_risk",
                "severity": "high",
                "description": "wrote a farewell note in her diary",
            },
            headers=auth("psych.teacher"),
        ),
        201,
    )
    assert alert["severity"] == "critical", "the policy raises suicide risk to critical"
    case_id = alert["case_id"]
    assert case_id
    case = get(gateway, f"/v1/cases/{case_id}", "psych.teacher")
    assert (case["status"], case["owner"], case["steps"]) == ("open", "psych.teacher", [])
    opened = gateway.post(f"/v1/alerts/{alert['alert_id']}/case", headers=auth("school.admin"))
    assert opened.status_code == 409, "the alert has its case already"

    def step(kind: str, note: str, user: str = "psych.teacher") -> httpx.Response:
        return gateway.post(
            f"/v1/cases/{case_id}/steps", json={"kind": kind, "note": note}, headers=auth(user)
        )

    early = step("assessment", "talked with her first")
    assert early.status_code == 409, "R9: the guardians are contacted first"
    assert ok(step("guardian_contact", "phoned her mother, who is coming in"), 200)
    assert ok(step("assessment", "interviewed with the mother present"), 200)
    assert ok(step("intervention", "safety plan agreed", user="school.admin"), 200)
    assert step("monitoring", "saw her in class", user="head.teacher").status_code == 403

    empty = gateway.post(
        f"/v1/cases/{case_id}/closure", json={"summary": ""}, headers=auth("psych.teacher")
    )
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "summary"]
    blank = gateway.post(
        f"/v1/cases/{case_id}/closure", json={"summary": "   "}, headers=auth("psych.teacher")
    )
    assert blank.status_code == 422, "a summary of nothing is no summary"
    closed = ok(
        gateway.post(
            f"/v1/cases/{case_id}/closure",
            json={"summary": "safe at home; weekly sessions with the school counsellor"},
            headers=auth("psych.teacher"),
        ),
        200,
    )
    assert closed["status"] == "closed"
    assert closed["summary"] == "safe at home; weekly sessions with the school counsellor"
    assert [s["kind"] for s in closed["steps"]] == [
        "guardian_contact",
        "assessment",
        "intervention",
        "closure",
    ]
    assert step("monitoring", "checked in again").status_code == 409, "a closed case takes no steps"
    county = get(gateway, f"/v1/cases/{case_id}", "zhanggong.admin")
    assert county["status"] == "closed"
    assert gateway.get(f"/v1/cases/{case_id}", headers=auth("nankang.admin")).status_code == 403


def test_the_school_asks_the_police_to_help_locate_a_missing_student(module: Module) -> None:
    since = ends(POLICE, POLICE_LOCATES)
    details = f"left school at 16:10 in a blue uniform ({uuid.uuid4().hex[:8]})"
    asked = ok(
        module.gateway.post(
            "/v1/locate-requests",
            json={
                "student_id": module.student(MISSING).student_id,
                "last_seen_at": "2026-11-28T16:10:00+08:00",
                "details": details,
                "school_contact": "0797-1234567 (school duty desk)",
            },
            headers=auth("psych.teacher"),
        ),
        201,
    )
    assert (asked["unit"], asked["topic"]) == (POLICE, POLICE_LOCATES)
    found = read(
        POLICE,
        POLICE_LOCATES,
        since,
        lambda records: any(r.json()["request_id"] == asked["request_id"] for r in records),
    )
    (request,) = [r.json() for r in found if r.json()["request_id"] == asked["request_id"]]
    assert (request["details"], request["school_code"], request["county_code"]) == (
        details,
        DEMO_SCHOOL,
        DEMO_COUNTY,
    )


# --- the count -----------------------------------------------------------------------------


def test_every_message_sent_to_the_police_topic_is_accounted_for_exactly_once(
    module: Module,
) -> None:
    """Run last (file order): each external id got its receipts; on the platform, each good
    report is exactly one alert and no review task, each other message exactly one review
    task, and together they are all the messages sent but the repeat."""
    ledger = module.ledger
    assert ledger.sent, "the tests above send the police unit's messages: run the module"
    receipts(module, {e: len(s) for e, s in ledger.receipts.items()})
    time.sleep(2.0)  # a second copy of anything would show now
    found = read(POLICE, POLICE_RECEIPTS, module.receipts_since)
    for external_id, expected in ledger.receipts.items():
        assert statuses(found, external_id) == expected, external_id
    unreadable = {
        r.json()["reference"]
        for r in found
        if r.json()["external_id"] is None and r.json()["reference"] in ledger.unreadable
    }
    assert unreadable == set(ledger.unreadable)

    for external_id, student in ledger.alerts.items():
        alerts = wait_for_alerts(module.gateway, student)
        assert [a["source_ref"] for a in alerts] == [POLICE], external_id
    tasks = review_tasks(module.gateway)
    per_report = Counter(t["external_id"] for t in tasks)
    for external_id in ledger.tasks:
        assert per_report[external_id] == 1, external_id
    for external_id in ledger.alerts:
        assert per_report[external_id] == 0, external_id
    assert set(ledger.unreadable) <= {t["task_id"] for t in tasks}
    accounted = len(ledger.alerts) + len(ledger.tasks) + len(ledger.unreadable)
    assert accounted == ledger.sent - ledger.repeats
