"""The gateway's alert routes against a fake AlertService: every RPC has a route that makes its
one call with the caller's token forwarded; roles the route does not admit are refused and
recorded before any call; bodies are checked with errors naming the field; alert and case
details are never cached; the service's refusals come back as HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.routers import alerts
from xinyu.alerts.v1 import alerts_pb2 as pb
from xinyu_core.auth import Principal
from xinyu_core.errors import Unauthenticated
from xinyu_core.grpc.server import FIELD_METADATA_KEY
from xinyu_core.testing import principal

SCHOOL = "3607020001"
ALERT = "5b0f3c1e-8d2a-4f6b-9c7d-0e1f2a3b4c5d"
STUDENT = "00000000-0000-4000-8000-000000000001"
CASE = "case-7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928"
TASK = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


class Verifier:
    """A caller's token is the role they hold: ``Bearer head_teacher``."""

    async def verify(self, token: str) -> Principal:
        if token == "bad":
            raise Unauthenticated("bad token")
        found = principal(token, org_unit=SCHOOL)
        return Principal(
            subject=found.subject,
            username=found.username,
            roles=found.roles,
            org_unit=found.org_unit,
            client_id=found.client_id,
            token=token,
        )


@dataclass
class Audit:
    denials: list[tuple[str, str]] = field(default_factory=list)

    async def denied(
        self, principal: Principal, action: str, resource_type: str, resource_id: str, reason: str
    ) -> None:
        self.denials.append((action, reason))


def rpc_error(code: grpc.StatusCode, details: str, field_name: str = "") -> grpc.aio.AioRpcError:
    trailing = ((FIELD_METADATA_KEY, field_name),) if field_name else ()
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details
    )


def _alert(**overrides: Any) -> pb.Alert:
    values: dict[str, Any] = {
        "alert_id": ALERT,
        "student_id": STUDENT,
        "school_code": SCHOOL,
        "county_code": "360702",
        "severity": pb.SEVERITY_HIGH,
        "source": pb.ALERT_SOURCE_REPORT,
        "category": pb.CATEGORY_BULLYING,
        "status": pb.ALERT_STATUS_OPEN,
        "level": pb.LEVEL_SCHOOL,
        "source_ref": "report",
        "description": "pushed around in the corridor every day",
        **overrides,
    }
    return pb.Alert(**values)


def _case(**overrides: Any) -> pb.Case:
    values: dict[str, Any] = {
        "case_id": CASE,
        "alert_id": ALERT,
        "student_id": STUDENT,
        "school_code": SCHOOL,
        "owner": "psych.teacher",
        "status": pb.CASE_STATUS_OPEN,
        "steps": [
            pb.CaseStep(
                step_id="s1", kind=pb.CASE_STEP_KIND_GUARDIAN_CONTACT, note="phoned the mother"
            )
        ],
        **overrides,
    }
    return pb.Case(**values)


@dataclass
class FakeAlerts:
    """Records every call (method, request, token) and answers, or raises the error set for
    the method in ``errors``."""

    calls: list[tuple[str, Any, str]] = field(default_factory=list)
    errors: dict[str, grpc.aio.AioRpcError] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name[:1].isupper():
            raise AttributeError(name)

        async def rpc(request: Any, metadata: Any, **options: Any) -> Any:
            token = dict(metadata)["authorization"].removeprefix("Bearer ")
            self.calls.append((name, request, token))
            if name in self.errors:
                raise self.errors[name]
            return self._reply(name)

        return rpc

    def _reply(self, name: str) -> Any:
        notification = pb.Notification(
            notification_id="n1",
            alert_id=ALERT,
            level=pb.LEVEL_SCHOOL,
            role="psych_teacher",
            recipient="psych.teacher",
            channel="inbox",
            status=pb.NOTIFICATION_STATUS_DELIVERED,
            attempts=[pb.DeliveryAttempt(delivered=True)],
        )
        task = pb.ReviewTask(
            task_id=TASK,
            kind=pb.REVIEW_KIND_NO_MATCH,
            status=pb.REVIEW_STATUS_OPEN,
            unit="unit-police-360702",
            external_id="P-1",
            reason="no student has these identifiers",
        )
        replies: dict[str, Any] = {
            "RaiseReport": pb.RaiseReportResponse(alert=_alert()),
            "GetAlert": pb.GetAlertResponse(
                alert=_alert(),
                routing=[pb.Routing(level=pb.LEVEL_SCHOOL, notified=2, reason="raised")],
                notifications=[notification],
            ),
            "ListAlerts": pb.ListAlertsResponse(
                alerts=[_alert(description="")], next_page_token="next"
            ),
            "AcknowledgeAlert": pb.AcknowledgeAlertResponse(
                alert=_alert(status=pb.ALERT_STATUS_ACKNOWLEDGED, description="")
            ),
            "CloseAlert": pb.CloseAlertResponse(
                alert=_alert(status=pb.ALERT_STATUS_CLOSED, description="")
            ),
            "ListNotifications": pb.ListNotificationsResponse(notifications=[notification]),
            "ListReviewTasks": pb.ListReviewTasksResponse(tasks=[task]),
            "ResolveReviewTask": pb.ResolveReviewTaskResponse(
                task=pb.ReviewTask(
                    task_id=TASK,
                    status=pb.REVIEW_STATUS_DISMISSED,
                    resolution="not-a-student",
                    raw_message='{"external_id": "P-1"}',
                )
            ),
            "OpenCase": pb.OpenCaseResponse(case=_case(steps=[])),
            "RecordCaseStep": pb.RecordCaseStepResponse(case=_case()),
            "CloseCase": pb.CloseCaseResponse(
                case=_case(status=pb.CASE_STATUS_CLOSED, summary="safe at home, followed weekly")
            ),
            "GetCase": pb.GetCaseResponse(case=_case(protected_reporter="subject-of-reporter")),
            "RequestLocateHelp": pb.RequestLocateHelpResponse(
                request_id="r1",
                unit="unit-police-360702",
                topic="alerts.unit-police-360702.locate-requested.v1",
            ),
        }
        return replies[name]

    def only_call(self) -> tuple[str, Any, str]:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


@dataclass
class FakeRuntime:
    alerts: FakeAlerts
    verifier: Verifier = field(default_factory=Verifier)
    audit: Audit = field(default_factory=Audit)


def client(fake: FakeAlerts, runtime: FakeRuntime | None = None) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(alerts.router)
    app.state.runtime = runtime or FakeRuntime(fake)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def as_role(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {role}"}


REPORT = {
    "student_id": STUDENT,
    "category": "bullying",
    "severity": "high",
    "description": "pushed around in the corridor every day",
    "protected_report": True,
}
LOCATE = {
    "student_id": STUDENT,
    "details": "left school at 16:10 in a blue uniform",
    "school_contact": "0797-1234567 (duty desk)",
}
# (method, path, body, a role the route admits, the RPC, whether the answer is never cached)
ROUTES: list[tuple[str, str, dict[str, Any] | None, str, str, bool]] = [
    ("POST", "/v1/alerts", REPORT, "head_teacher", "RaiseReport", True),
    ("GET", "/v1/alerts", None, "psych_teacher", "ListAlerts", False),
    ("GET", f"/v1/alerts/{ALERT}", None, "guardian", "GetAlert", True),
    ("GET", f"/v1/alerts/{ALERT}/notifications", None, "school_admin", "ListNotifications", True),
    (
        "POST",
        f"/v1/alerts/{ALERT}/acknowledgement",
        None,
        "head_teacher",
        "AcknowledgeAlert",
        False,
    ),
    (
        "POST",
        f"/v1/alerts/{ALERT}/closure",
        {"outcome": "handled"},
        "psych_teacher",
        "CloseAlert",
        False,
    ),
    ("POST", f"/v1/alerts/{ALERT}/case", None, "school_admin", "OpenCase", True),
    ("GET", "/v1/review-tasks", None, "county_admin", "ListReviewTasks", False),
    (
        "POST",
        f"/v1/review-tasks/{TASK}/resolution",
        {"dismiss_reason": "not-a-student"},
        "county_counsellor",
        "ResolveReviewTask",
        True,
    ),
    ("GET", f"/v1/cases/{CASE}", None, "psych_teacher", "GetCase", True),
    (
        "POST",
        f"/v1/cases/{CASE}/steps",
        {"kind": "guardian_contact", "note": "phoned the mother"},
        "psych_teacher",
        "RecordCaseStep",
        True,
    ),
    (
        "POST",
        f"/v1/cases/{CASE}/closure",
        {"summary": "safe at home, followed weekly"},
        "school_admin",
        "CloseCase",
        True,
    ),
    ("POST", "/v1/locate-requests", LOCATE, "psych_teacher", "RequestLocateHelp", False),
]


def test_every_rpc_of_the_service_has_a_route() -> None:
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["AlertService"].methods}
    assert methods == {route[4] for route in ROUTES}


@pytest.mark.parametrize(("method", "path", "body", "role", "rpc", "no_store"), ROUTES)
async def test_a_route_forwards_the_callers_token(
    method: str, path: str, body: dict[str, Any] | None, role: str, rpc: str, no_store: bool
) -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.request(method, path, json=body, headers=as_role(role))
    assert reply.status_code in (200, 201), reply.text
    name, _, token = fake.only_call()
    assert (name, token) == (rpc, role)
    assert (reply.headers.get("cache-control") == "no-store") is no_store


@pytest.mark.parametrize(("method", "path", "body", "role", "rpc", "no_store"), ROUTES)
async def test_a_route_needs_a_valid_token(
    method: str, path: str, body: dict[str, Any] | None, role: str, rpc: str, no_store: bool
) -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        missing = await http.request(method, path, json=body)
        bad = await http.request(method, path, json=body, headers=as_role("bad"))
    assert (missing.status_code, bad.status_code) == (401, 401)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        ("POST", "/v1/alerts", REPORT, "city_admin"),
        ("POST", "/v1/alerts", REPORT, "police_officer"),
        ("GET", "/v1/alerts", None, "head_teacher"),
        ("GET", "/v1/alerts", None, "auditor"),
        ("GET", f"/v1/alerts/{ALERT}", None, "auditor"),
        ("GET", f"/v1/alerts/{ALERT}", None, "police_officer"),
        ("POST", f"/v1/alerts/{ALERT}/closure", {"outcome": "handled"}, "county_admin"),
        ("POST", f"/v1/alerts/{ALERT}/closure", {"outcome": "handled"}, "head_teacher"),
        ("POST", f"/v1/alerts/{ALERT}/case", None, "guardian"),
        ("GET", "/v1/review-tasks", None, "school_admin"),
        ("POST", f"/v1/review-tasks/{TASK}/resolution", {"dismiss_reason": "x"}, "psych_teacher"),
        ("GET", f"/v1/cases/{CASE}", None, "head_teacher"),
        ("GET", f"/v1/cases/{CASE}", None, "guardian"),
        ("POST", f"/v1/cases/{CASE}/steps", {"kind": "assessment", "note": "x"}, "city_admin"),
        ("POST", f"/v1/cases/{CASE}/closure", {"summary": "x"}, "county_admin"),
        ("POST", "/v1/locate-requests", LOCATE, "head_teacher"),
        ("POST", "/v1/locate-requests", LOCATE, "police_officer"),
    ],
)
async def test_a_role_the_route_does_not_admit_is_refused_and_recorded(
    method: str, path: str, body: dict[str, Any] | None, role: str
) -> None:
    fake = FakeAlerts()
    runtime = FakeRuntime(fake)
    async with client(fake, runtime) as http:
        reply = await http.request(method, path, json=body, headers=as_role(role))
    assert reply.status_code == 403
    assert fake.calls == []
    [(action, reason)] = runtime.audit.denials
    assert action.startswith(method)
    assert reason == "role-not-allowed"


# --- reports -----------------------------------------------------------------------------


async def test_a_protected_report_goes_out_with_its_category_severity_and_time() -> None:
    fake = FakeAlerts()
    body = {**REPORT, "observed_at": "2026-11-27T16:30:00+08:00"}
    async with client(fake) as http:
        reply = await http.post("/v1/alerts", json=body, headers=as_role("guardian"))
    assert reply.status_code == 201
    assert reply.headers["location"] == f"/v1/alerts/{ALERT}"
    assert reply.json()["category"] == "bullying"
    assert reply.json()["severity"] == "high"
    _, request, _ = fake.only_call()
    assert (request.category, request.severity) == (pb.CATEGORY_BULLYING, pb.SEVERITY_HIGH)
    assert request.protected_report
    assert request.observed_at.ToJsonString() == "2026-11-27T08:30:00Z"


async def test_a_report_without_severity_or_time_leaves_them_to_the_service() -> None:
    fake = FakeAlerts()
    body = {k: v for k, v in REPORT.items() if k not in ("severity", "protected_report")}
    async with client(fake) as http:
        await http.post("/v1/alerts", json=body, headers=as_role("psych_teacher"))
    _, request, _ = fake.only_call()
    assert request.severity == pb.SEVERITY_UNSPECIFIED
    assert not request.protected_report
    assert not request.HasField("observed_at")


@pytest.mark.parametrize(
    ("change", "field_path"),
    [
        ({"category": "screening_flag"}, ["body", "category"]),
        ({"category": "gossip"}, ["body", "category"]),
        ({"severity": "urgent"}, ["body", "severity"]),
        ({"description": ""}, ["body", "description"]),
        ({"student_id": ""}, ["body", "student_id"]),
        ({"observed_at": "yesterday"}, ["body", "observed_at"]),
    ],
)
async def test_a_wrong_report_is_422_naming_the_field(
    change: dict[str, Any], field_path: list[str]
) -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/alerts", json={**REPORT, **change}, headers=as_role("head_teacher")
        )
    assert reply.status_code == 422
    assert [error["loc"] for error in reply.json()["detail"]] == [field_path]
    assert fake.calls == []


# --- alerts ------------------------------------------------------------------------------


async def test_a_listing_passes_unit_statuses_student_and_page_on_without_free_text() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.get(
            "/v1/alerts",
            params=[
                ("org_unit", SCHOOL),
                ("status", "open"),
                ("status", "acknowledged"),
                ("student_id", STUDENT),
                ("page_size", "20"),
                ("page_token", "abc"),
            ],
            headers=as_role("school_admin"),
        )
    assert reply.status_code == 200
    body = reply.json()
    assert body["next_page_token"] == "next"
    assert body["alerts"][0]["description"] == ""
    _, request, _ = fake.only_call()
    assert request.org_unit == SCHOOL
    assert list(request.statuses) == [pb.ALERT_STATUS_OPEN, pb.ALERT_STATUS_ACKNOWLEDGED]
    assert (request.student_id, request.page_size, request.page_token) == (STUDENT, 20, "abc")


async def test_an_unknown_status_filter_is_422_naming_it() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.get(
            "/v1/alerts", params={"status": "pending"}, headers=as_role("city_admin")
        )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["query", "status", 0]
    assert fake.calls == []


async def test_an_alert_comes_with_its_routing_and_notifications_uncached() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.get(f"/v1/alerts/{ALERT}", headers=as_role("county_admin"))
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert body["alert"]["description"] == "pushed around in the corridor every day"
    assert body["alert"]["status"] == "open"
    assert body["routing"] == [
        {"level": "school", "routed_at": None, "notified": 2, "reason": "raised"}
    ]
    assert body["notifications"][0]["recipient"] == "psych.teacher"
    assert body["notifications"][0]["status"] == "delivered"


async def test_closing_needs_an_outcome_code() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        missing = await http.post(
            f"/v1/alerts/{ALERT}/closure", json={}, headers=as_role("psych_teacher")
        )
        prose = await http.post(
            f"/v1/alerts/{ALERT}/closure",
            json={"outcome": "Talked to him."},
            headers=as_role("psych_teacher"),
        )
    assert missing.json()["detail"][0]["loc"] == ["body", "outcome"]
    assert prose.json()["detail"][0]["loc"] == ["body", "outcome"]
    assert fake.calls == []


async def test_a_case_is_opened_for_a_named_owner() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(
            f"/v1/alerts/{ALERT}/case",
            json={"owner": "psych.teacher"},
            headers=as_role("county_counsellor"),
        )
    assert reply.status_code == 201
    assert reply.headers["location"] == f"/v1/cases/{CASE}"
    assert fake.only_call()[1].owner == "psych.teacher"


# --- review tasks ------------------------------------------------------------------------


async def test_review_tasks_are_listed_by_status() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.get(
            "/v1/review-tasks",
            params=[("status", "open"), ("status", "dismissed")],
            headers=as_role("city_admin"),
        )
    assert reply.json()["tasks"][0]["kind"] == "no_match"
    _, request, _ = fake.only_call()
    assert list(request.statuses) == [pb.REVIEW_STATUS_OPEN, pb.REVIEW_STATUS_DISMISSED]


async def test_a_review_task_is_attached_to_a_student_with_a_severity() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        await http.post(
            f"/v1/review-tasks/{TASK}/resolution",
            json={"student_id": STUDENT, "severity": "critical"},
            headers=as_role("county_admin"),
        )
    _, request, _ = fake.only_call()
    assert request.WhichOneof("resolution") == "student_id"
    assert (request.student_id, request.severity) == (STUDENT, pb.SEVERITY_CRITICAL)


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({}, "student_id"),
        ({"student_id": STUDENT, "dismiss_reason": "duplicate"}, "dismiss_reason"),
        ({"dismiss_reason": "Not a student!"}, "dismiss_reason"),
    ],
)
async def test_a_resolution_attaches_or_dismisses(body: dict[str, Any], field_name: str) -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(
            f"/v1/review-tasks/{TASK}/resolution", json=body, headers=as_role("county_admin")
        )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", field_name]
    assert fake.calls == []


async def test_a_resolved_task_answers_with_the_raw_report_uncached() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(
            f"/v1/review-tasks/{TASK}/resolution",
            json={"dismiss_reason": "not-a-student"},
            headers=as_role("county_admin"),
        )
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json()["task"]["raw_message"] == '{"external_id": "P-1"}'
    assert reply.json()["alert"] is None
    assert fake.only_call()[1].dismiss_reason == "not-a-student"


# --- cases -------------------------------------------------------------------------------


async def test_a_case_step_goes_out_with_its_kind_and_time() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(
            f"/v1/cases/{CASE}/steps",
            json={
                "kind": "guardian_contact",
                "note": "phoned the mother",
                "occurred_at": "2026-11-28T09:00:00+08:00",
            },
            headers=as_role("psych_teacher"),
        )
    assert reply.json()["steps"][0]["kind"] == "guardian_contact"
    _, request, _ = fake.only_call()
    assert request.kind == pb.CASE_STEP_KIND_GUARDIAN_CONTACT
    assert request.occurred_at.ToJsonString() == "2026-11-28T01:00:00Z"


@pytest.mark.parametrize(
    ("path", "body", "field_name"),
    [
        (f"/v1/cases/{CASE}/steps", {"kind": "closure", "note": "done"}, "kind"),
        (f"/v1/cases/{CASE}/steps", {"kind": "assessment", "note": ""}, "note"),
        (f"/v1/cases/{CASE}/closure", {"summary": ""}, "summary"),
        (f"/v1/cases/{CASE}/closure", {}, "summary"),
    ],
)
async def test_a_wrong_case_body_is_422_naming_the_field(
    path: str, body: dict[str, Any], field_name: str
) -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(path, json=body, headers=as_role("psych_teacher"))
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", field_name]
    assert fake.calls == []


async def test_a_case_shows_the_protected_reporter_the_service_gives() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.get(f"/v1/cases/{CASE}", headers=as_role("psych_teacher"))
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json()["protected_reporter"] == "subject-of-reporter"


# --- the service's refusals --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpc", "error", "expected"),
    [
        (
            "RecordCaseStep",
            rpc_error(
                grpc.StatusCode.FAILED_PRECONDITION, "the guardians are contacted first (R9)"
            ),
            409,
        ),
        ("RecordCaseStep", rpc_error(grpc.StatusCode.PERMISSION_DENIED, "outside"), 403),
        ("RecordCaseStep", rpc_error(grpc.StatusCode.NOT_FOUND, "no such case"), 404),
        (
            "RecordCaseStep",
            rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "note: is required", "note"),
            422,
        ),
        ("RecordCaseStep", rpc_error(grpc.StatusCode.UNAVAILABLE, "down"), 503),
    ],
)
async def test_the_services_refusal_comes_back_as_http(
    rpc: str, error: grpc.aio.AioRpcError, expected: int
) -> None:
    fake = FakeAlerts(errors={rpc: error})
    async with client(fake) as http:
        reply = await http.post(
            f"/v1/cases/{CASE}/steps",
            json={"kind": "assessment", "note": "talked with her"},
            headers=as_role("school_admin"),
        )
    assert reply.status_code == expected
    if expected == 422:
        assert reply.json()["detail"] == [{"loc": ["body", "note"], "msg": "is required"}]


async def test_a_locate_request_names_the_unit_and_its_topic() -> None:
    fake = FakeAlerts()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/locate-requests",
            json={**LOCATE, "last_seen_at": "2026-11-28T16:10:00+08:00"},
            headers=as_role("school_admin"),
        )
    assert reply.status_code == 201
    assert reply.json()["topic"] == "alerts.unit-police-360702.locate-requested.v1"
    _, request, _ = fake.only_call()
    assert request.unit == ""
    assert request.last_seen_at.ToJsonString() == "2026-11-28T08:10:00Z"


# --- wiring ------------------------------------------------------------------------------


def test_the_app_serves_the_alert_routes_and_finds_alerts_at_its_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_ALERTS_TARGET", raising=False)
    settings = GatewaySettings()
    assert settings.alerts_target == "127.0.0.1:50065"
    monkeypatch.setenv("GATEWAY_ALERTS_TARGET", "alerts:50065")
    assert GatewaySettings().alerts_target == "alerts:50065"
    paths = set(create_app(settings).openapi()["paths"])
    assert {
        "/v1/alerts",
        "/v1/alerts/{alert_id}",
        "/v1/review-tasks",
        "/v1/cases/{case_id}",
        "/v1/locate-requests",
    } <= paths
