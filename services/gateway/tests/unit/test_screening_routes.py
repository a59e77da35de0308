"""The gateway's screening routes against a fake ScreeningService: each route makes its one call
with the caller's token forwarded, or as the gateway's own client for a student with codes or a
sitting token; bodies are checked with errors naming the field; codes, tokens and answers are
never cached; the service's refusals come back as HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from fastapi import FastAPI

from gateway.routers import screening
from xinyu.screening.v1 import screening_pb2 as pb
from xinyu_core.auth import Principal
from xinyu_core.errors import Unauthenticated
from xinyu_core.grpc.server import FIELD_METADATA_KEY
from xinyu_core.testing import principal

SERVICE_TOKEN = "gateway-service-token"
SITTING_TOKEN = "sitting-token-of-one-student"
SUBMISSION = "8d3f5a8e-2b1c-4d7e-9f60-1a2b3c4d5e6f"
SCHOOL = "3607020001"
CLASS = f"{SCHOOL}-2024-01"
PHQ9 = {f"q{n}": 1 for n in range(1, 10)}


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


class ServiceTokens:
    async def token(self) -> str:
        return SERVICE_TOKEN


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


def _summary(**overrides: Any) -> pb.ResultSummary:
    return pb.ResultSummary(
        submission_id=SUBMISSION,
        student_id="student-1",
        school_code=SCHOOL,
        class_code=CLASS,
        instrument=pb.InstrumentRef(instrument_id="phq-9", version="1.0.0"),
        suggested_level=pb.RISK_LEVEL_RED,
        needs_follow_up=True,
        critical=True,
        valid=True,
        **overrides,
    )


@dataclass
class FakeScreening:
    """Records every call (method, request, token) and answers from ``replies`` or raises the
    error set for the method in ``errors``."""

    calls: list[tuple[str, Any, str]] = field(default_factory=list)
    errors: dict[str, grpc.aio.AioRpcError] = field(default_factory=dict)
    duplicate: bool = False
    timeouts: list[float | None] = field(default_factory=list)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name[:1].isupper():
            raise AttributeError(name)

        async def rpc(request: Any, metadata: Any, **options: Any) -> Any:
            token = dict(metadata)["authorization"].removeprefix("Bearer ")
            self.timeouts.append(options.get("timeout"))
            self.calls.append((name, request, token))
            if name in self.errors:
                raise self.errors[name]
            return self._reply(name, request)

        return rpc

    def _reply(self, name: str, request: Any) -> Any:
        sitting = pb.Sitting(
            sitting_id="sitting-1",
            campaign_id="campaign-1",
            class_code=CLASS,
            school_code=SCHOOL,
            join_code="K7P2QX",
        )
        campaign = pb.Campaign(
            campaign_id="campaign-1",
            name="2026 秋季普查",
            kind=pb.CAMPAIGN_KIND_ANNUAL,
            scope_code="360702",
            status=pb.CAMPAIGN_STATUS_OPEN,
        )
        phq9 = pb.InstrumentSummary(
            instrument_id="phq-9", version="1.0.0", title="PHQ-9", licence="free"
        )
        replies: dict[str, Any] = {
            "ListInstruments": pb.ListInstrumentsResponse(instruments=[phq9]),
            "GetInstrument": pb.GetInstrumentResponse(
                summary=phq9, definition_json='{"id": "phq-9", "items": [{"id": "q1"}]}'
            ),
            "LoadInstrument": pb.LoadInstrumentResponse(summary=phq9),
            "OpenCampaign": pb.OpenCampaignResponse(campaign=campaign),
            "CloseCampaign": pb.CloseCampaignResponse(campaign=campaign),
            "GetCampaign": pb.GetCampaignResponse(campaign=campaign),
            "ListCampaigns": pb.ListCampaignsResponse(campaigns=[campaign]),
            "GetCoverage": pb.GetCoverageResponse(
                total=pb.CoverageRow(org_unit=SCHOOL, expected=40, started=30, submitted=20),
                rows=[pb.CoverageRow(org_unit=CLASS, expected=40, started=30, submitted=20)],
            ),
            "RecordConsent": pb.RecordConsentResponse(consent_id="consent-1"),
            "StartSitting": pb.StartSittingResponse(
                sitting=sitting,
                participants=[
                    pb.Participant(
                        student_id="student-1", full_name="林小雨", personal_code="A1B2C3"
                    )
                ],
            ),
            "JoinSitting": pb.JoinSittingResponse(
                sitting_token=SITTING_TOKEN,
                sitting=sitting,
                battery=[
                    pb.SavedAnswers(
                        instrument=pb.InstrumentRef(instrument_id="phq-9", version="1.0.0"),
                        answers={"q1": 2},
                    )
                ],
            ),
            "SaveAnswers": pb.SaveAnswersResponse(answered=len(getattr(request, "answers", {}))),
            "SubmitAnswers": pb.SubmitAnswersResponse(
                submission_id=getattr(request, "submission_id", ""), duplicate=self.duplicate
            ),
            "ListResults": pb.ListResultsResponse(results=[_summary()]),
            "GetResult": pb.GetResultResponse(
                result=pb.Result(summary=_summary(), total=14, band="moderate", answers=PHQ9)
            ),
            "ConfirmLevel": pb.ConfirmLevelResponse(
                summary=_summary(confirmed_level=pb.RISK_LEVEL_ORANGE)
            ),
            "ListRescreening": pb.ListRescreeningResponse(
                candidates=[pb.RescreeningCandidate(student_id="student-1", level=4)],
                next_page_token="next-candidates",
            ),
            "ListGuardianTasks": pb.ListGuardianTasksResponse(
                tasks=[pb.GuardianTask(task_id="task-1", status=pb.GUARDIAN_TASK_STATUS_OPEN)],
                next_page_token="next-tasks",
            ),
            "CompleteGuardianTask": pb.CompleteGuardianTaskResponse(
                task=pb.GuardianTask(task_id="task-1", status=pb.GUARDIAN_TASK_STATUS_DONE)
            ),
        }
        return replies[name]

    def only_call(self) -> tuple[str, Any, str]:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


@dataclass
class Settings:
    backend_deadline_seconds: float = 5.0


@dataclass
class FakeRuntime:
    screening: FakeScreening
    verifier: Verifier = field(default_factory=Verifier)
    settings: Settings = field(default_factory=Settings)
    service_tokens: ServiceTokens | None = field(default_factory=ServiceTokens)
    audit: Audit = field(default_factory=Audit)

    @property
    def screening_direct(self) -> FakeScreening:
        return self.screening


def client(fake: FakeScreening, runtime: FakeRuntime | None = None) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(screening.router)
    app.state.runtime = runtime or FakeRuntime(fake)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def as_role(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {role}"}


SITTING = {"Authorization": f"Bearer {SITTING_TOKEN}"}


# --- every RPC has a route ---------------------------------------------------------------

CAMPAIGN_BODY = {
    "name": "2026 秋季普查",
    "scope_code": "360702",
    "closes_at": "2026-12-01T00:00:00+08:00",
    "batteries": [
        {
            "grade_band": "junior_secondary",
            "instruments": [{"instrument_id": "phq-a", "version": "1.0.0"}],
        }
    ],
}
ROUTES: list[tuple[str, str, dict[str, Any] | None, str, str]] = [
    ("GET", "/v1/screening/instruments", None, "student", "ListInstruments"),
    ("GET", "/v1/screening/instruments/phq-9/1.0.0", None, "head_teacher", "GetInstrument"),
    ("POST", "/v1/screening/instruments", {"definition": "id: x"}, "operator", "LoadInstrument"),
    ("POST", "/v1/screening/campaigns", CAMPAIGN_BODY, "county_admin", "OpenCampaign"),
    ("POST", "/v1/screening/campaigns/c1/close", None, "city_admin", "CloseCampaign"),
    ("GET", "/v1/screening/campaigns", None, "school_admin", "ListCampaigns"),
    ("GET", "/v1/screening/campaigns/c1", None, "psych_teacher", "GetCampaign"),
    ("GET", "/v1/screening/campaigns/c1/coverage", None, "county_admin", "GetCoverage"),
    (
        "POST",
        "/v1/screening/campaigns/c1/consents",
        {"student_id": "student-1", "granted": True},
        "guardian",
        "RecordConsent",
    ),
    (
        "POST",
        "/v1/screening/sittings",
        {"campaign_id": "c1", "class_code": CLASS},
        "head_teacher",
        "StartSitting",
    ),
    ("GET", "/v1/screening/results", None, "head_teacher", "ListResults"),
    ("GET", f"/v1/screening/results/{SUBMISSION}", None, "psych_teacher", "GetResult"),
    (
        "POST",
        f"/v1/screening/results/{SUBMISSION}/confirmation",
        {"level": "orange", "reason": "interviewed"},
        "psych_teacher",
        "ConfirmLevel",
    ),
    (
        "GET",
        f"/v1/screening/schools/{SCHOOL}/rescreening",
        None,
        "psych_teacher",
        "ListRescreening",
    ),
    (
        "GET",
        f"/v1/screening/schools/{SCHOOL}/guardian-tasks",
        None,
        "psych_teacher",
        "ListGuardianTasks",
    ),
    (
        "POST",
        "/v1/screening/guardian-tasks/task-1/completion",
        {"note": "phoned the mother on Monday"},
        "school_admin",
        "CompleteGuardianTask",
    ),
]
STUDENT_ROUTES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "POST",
        "/v1/screening/sittings/join",
        {"join_code": "K7P2QX", "personal_code": "A1B2C3"},
        "JoinSitting",
    ),
    (
        "PUT",
        "/v1/screening/sittings/answers",
        {"instrument_id": "phq-9", "version": "1.0.0", "answers": {"q1": 2}},
        "SaveAnswers",
    ),
    (
        "POST",
        "/v1/screening/sittings/submissions",
        {
            "instrument_id": "phq-9",
            "version": "1.0.0",
            "answers": PHQ9,
            "submission_id": SUBMISSION,
        },
        "SubmitAnswers",
    ),
]


def test_every_rpc_of_the_service_has_a_route() -> None:
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["ScreeningService"].methods}
    assert methods == {route[-1] for route in ROUTES} | {route[-1] for route in STUDENT_ROUTES}


@pytest.mark.parametrize(("method", "path", "body", "role", "rpc"), ROUTES)
async def test_a_staff_route_forwards_the_callers_token(
    method: str, path: str, body: dict[str, Any] | None, role: str, rpc: str
) -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.request(method, path, json=body, headers=as_role(role))
    assert reply.status_code in (200, 201), reply.text
    name, _, token = fake.only_call()
    assert (name, token) == (rpc, role)


@pytest.mark.parametrize(("method", "path", "body", "role", "rpc"), ROUTES)
async def test_a_staff_route_needs_a_valid_token(
    method: str, path: str, body: dict[str, Any] | None, role: str, rpc: str
) -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        missing = await http.request(method, path, json=body)
        bad = await http.request(method, path, json=body, headers=as_role("bad"))
    assert (missing.status_code, bad.status_code) == (401, 401)
    assert fake.calls == []


@pytest.mark.parametrize(("method", "path", "body", "rpc"), STUDENT_ROUTES)
async def test_a_student_route_calls_as_the_gateway_and_is_never_cached(
    method: str, path: str, body: dict[str, Any], rpc: str
) -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.request(method, path, json=body, headers=SITTING)
    assert reply.status_code in (200, 201), reply.text
    assert reply.headers["cache-control"] == "no-store"
    name, _, token = fake.only_call()
    assert (name, token) == (rpc, SERVICE_TOKEN)


# --- roles the gateway refuses itself ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        ("POST", "/v1/screening/instruments", {"definition": "id: x"}, "city_admin"),
        ("POST", "/v1/screening/campaigns", CAMPAIGN_BODY, "school_admin"),
        ("POST", "/v1/screening/sittings", {"campaign_id": "c1", "class_code": CLASS}, "guardian"),
        ("POST", "/v1/screening/sittings", {"campaign_id": "c1", "class_code": CLASS}, "student"),
        ("GET", f"/v1/screening/results/{SUBMISSION}", None, "head_teacher"),
        ("GET", f"/v1/screening/results/{SUBMISSION}", None, "county_admin"),
        ("GET", "/v1/screening/results", None, "guardian"),
        ("GET", "/v1/screening/campaigns/c1/coverage", None, "head_teacher"),
        (
            "POST",
            "/v1/screening/campaigns/c1/consents",
            {"student_id": "s", "granted": True},
            "head_teacher",
        ),
        ("GET", f"/v1/screening/schools/{SCHOOL}/guardian-tasks", None, "head_teacher"),
        ("GET", f"/v1/screening/schools/{SCHOOL}/rescreening", None, "county_admin"),
        (
            "POST",
            f"/v1/screening/results/{SUBMISSION}/confirmation",
            {"level": "red", "reason": "x"},
            "head_teacher",
        ),
    ],
)
async def test_a_role_the_route_does_not_admit_is_refused_and_recorded(
    method: str, path: str, body: dict[str, Any] | None, role: str
) -> None:
    fake = FakeScreening()
    runtime = FakeRuntime(fake)
    async with client(fake, runtime) as http:
        reply = await http.request(method, path, json=body, headers=as_role(role))
    assert reply.status_code == 403
    assert fake.calls == []
    [(action, reason)] = runtime.audit.denials
    assert action.startswith(f"{method} /v1/screening/")
    assert reason == "role-not-allowed"


# --- campaigns ---------------------------------------------------------------------------


async def test_a_campaign_is_opened_with_its_batteries_and_dates() -> None:
    fake = FakeScreening()
    body = {
        **CAMPAIGN_BODY,
        "kind": "rescreening",
        "school_codes": [SCHOOL],
        "cohorts": [2024],
        "consent_required_under_age": 14,
    }
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/campaigns", json=body, headers=as_role("county_admin")
        )
    assert reply.status_code == 201
    assert reply.headers["location"] == "/v1/screening/campaigns/campaign-1"
    assert reply.json()["kind"] == "annual"
    assert reply.json()["status"] == "open"
    _, request, _ = fake.only_call()
    assert request.kind == pb.CAMPAIGN_KIND_RESCREENING
    assert (request.scope_code, list(request.school_codes), list(request.cohorts)) == (
        "360702",
        [SCHOOL],
        [2024],
    )
    assert request.closes_at.ToJsonString() == "2026-11-30T16:00:00Z"
    assert not request.HasField("opens_at")
    assert request.batteries[0].grade_band == "junior_secondary"
    assert request.batteries[0].instruments[0].instrument_id == "phq-a"
    assert request.consent_required_under_age == 14


async def test_a_campaign_without_a_consent_age_leaves_it_to_the_service() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        await http.post(
            "/v1/screening/campaigns", json=CAMPAIGN_BODY, headers=as_role("city_admin")
        )
    assert not fake.only_call()[1].HasField("consent_required_under_age")


@pytest.mark.parametrize(
    ("change", "field_path"),
    [
        ({"kind": "weekly"}, ["body", "kind"]),
        ({"batteries": []}, ["body", "batteries"]),
        (
            {"batteries": [{"grade_band": "x", "instruments": [{"instrument_id": "phq-9"}]}]},
            ["body", "batteries", 0, "instruments", 0, "version"],
        ),
        ({"closes_at": "next week"}, ["body", "closes_at"]),
    ],
)
async def test_a_wrong_campaign_body_is_422_naming_the_field(
    change: dict[str, Any], field_path: list[Any]
) -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/campaigns",
            json={**CAMPAIGN_BODY, **change},
            headers=as_role("city_admin"),
        )
    assert reply.status_code == 422
    assert [error["loc"] for error in reply.json()["detail"]] == [field_path]
    assert fake.calls == []


async def test_coverage_and_listing_pass_the_unit_on() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        coverage = await http.get(
            "/v1/screening/campaigns/c1/coverage",
            params={"org_unit": SCHOOL},
            headers=as_role("school_admin"),
        )
        listing = await http.get(
            "/v1/screening/campaigns",
            params={"org_unit": "360702", "include_closed": "true"},
            headers=as_role("county_admin"),
        )
    assert coverage.json()["total"] == {
        "org_unit": SCHOOL,
        "expected": 40,
        "started": 30,
        "submitted": 20,
    }
    assert listing.json()["campaigns"][0]["campaign_id"] == "campaign-1"
    assert [(c[0], c[1].org_unit) for c in fake.calls] == [
        ("GetCoverage", SCHOOL),
        ("ListCampaigns", "360702"),
    ]
    assert fake.calls[1][1].include_closed


# --- sittings ----------------------------------------------------------------------------


async def test_a_sitting_answers_with_codes_for_the_slips_and_is_never_cached() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings",
            json={"campaign_id": "c1", "class_code": CLASS, "minutes": 45},
            headers=as_role("psych_teacher"),
        )
    assert reply.status_code == 201
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert body["sitting"]["join_code"] == "K7P2QX"
    assert body["participants"][0]["personal_code"] == "A1B2C3"
    assert fake.only_call()[1].minutes == 45


async def test_a_sitting_lasts_at_most_four_hours() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings",
            json={"campaign_id": "c1", "class_code": CLASS, "minutes": 241},
            headers=as_role("head_teacher"),
        )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "minutes"]


async def test_a_student_joins_with_codes_without_a_token() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings/join", json={"join_code": "K7P2QX", "personal_code": "A1B2C3"}
        )
    assert reply.status_code == 200
    body = reply.json()
    assert body["sitting_token"] == SITTING_TOKEN
    assert body["battery"][0]["answers"] == {"q1": 2}
    name, request, token = fake.only_call()
    assert name == "JoinSitting"
    assert (request.join_code, request.personal_code, token) == ("K7P2QX", "A1B2C3", SERVICE_TOKEN)


async def test_joining_needs_both_codes() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings/join",
            json={"join_code": "K7P2QX"},
            headers=as_role("student"),
        )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "personal_code"]
    assert fake.calls == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            rpc_error(
                grpc.StatusCode.INVALID_ARGUMENT,
                "personal_code: not a code of this sitting (149 tries left)",
                "personal_code",
            ),
            422,
        ),
        (rpc_error(grpc.StatusCode.NOT_FOUND, "no sitting has this join code"), 404),
        (rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "the sitting has ended"), 409),
    ],
)
async def test_the_services_refusal_of_a_join_comes_back_as_http(
    error: grpc.aio.AioRpcError, expected: int
) -> None:
    fake = FakeScreening(errors={"JoinSitting": error})
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings/join", json={"join_code": "K7P2QX", "personal_code": "ZZZZZZ"}
        )
    assert reply.status_code == expected
    assert "sitting_token" not in reply.text
    if expected == 422:
        assert reply.json()["detail"] == [
            {"loc": ["body", "personal_code"], "msg": "not a code of this sitting (149 tries left)"}
        ]


async def test_joining_is_unavailable_without_the_gateways_own_client() -> None:
    fake = FakeScreening()
    async with client(fake, FakeRuntime(fake, service_tokens=None)) as http:
        reply = await http.post(
            "/v1/screening/sittings/join", json={"join_code": "K7P2QX", "personal_code": "A1B2C3"}
        )
    assert reply.status_code == 503
    assert fake.calls == []


async def test_answers_are_saved_with_the_sitting_token_inside_the_message() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.put(
            "/v1/screening/sittings/answers",
            json={"instrument_id": "phq-9", "version": "1.0.0", "answers": {"q1": 2, "q2": 0}},
            headers=SITTING,
        )
    assert reply.json() == {"answered": 2}
    _, request, token = fake.only_call()
    assert (request.sitting_token, token) == (SITTING_TOKEN, SERVICE_TOKEN)
    assert dict(request.answers) == {"q1": 2, "q2": 0}
    assert (request.instrument.instrument_id, request.instrument.version) == ("phq-9", "1.0.0")


async def test_a_submission_is_201_then_200_for_its_repeat() -> None:
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": PHQ9,
        "submission_id": SUBMISSION,
    }
    first, repeat = FakeScreening(), FakeScreening(duplicate=True)
    async with client(first) as http:
        accepted = await http.post("/v1/screening/sittings/submissions", json=body, headers=SITTING)
    async with client(repeat) as http:
        again = await http.post("/v1/screening/sittings/submissions", json=body, headers=SITTING)
    assert (accepted.status_code, accepted.json()) == (
        201,
        {"submission_id": SUBMISSION, "duplicate": False},
    )
    assert (again.status_code, again.json()) == (
        200,
        {"submission_id": SUBMISSION, "duplicate": True},
    )
    assert again.headers["cache-control"] == "no-store"
    _, request, _ = first.only_call()
    assert (request.sitting_token, request.submission_id) == (SITTING_TOKEN, SUBMISSION)
    # The answer routes use the channel without interceptors: the route sets the deadline.
    assert first.timeouts == [5.0]
    assert dict(request.answers) == PHQ9


@pytest.mark.parametrize(
    "path", ["/v1/screening/sittings/submissions", "/v1/screening/sittings/answers"]
)
async def test_answers_without_a_sitting_token_are_401(path: str) -> None:
    fake = FakeScreening()
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": PHQ9,
        "submission_id": SUBMISSION,
    }
    async with client(fake) as http:
        reply = await http.request(
            "POST" if path.endswith("submissions") else "PUT", path, json=body
        )
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("change", "field_path"),
    [
        ({"submission_id": "not-a-uuid"}, ["body", "submission_id"]),
        ({"answers": {"q1": "often"}}, ["body", "answers", "q1"]),
        ({"answers": {"q1": 2**40}}, ["body", "answers", "q1"]),
        ({"instrument_id": ""}, ["body", "instrument_id"]),
    ],
)
async def test_a_malformed_submission_is_422_naming_the_field(
    change: dict[str, Any], field_path: list[Any]
) -> None:
    fake = FakeScreening()
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": PHQ9,
        "submission_id": SUBMISSION,
    }
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings/submissions", json={**body, **change}, headers=SITTING
        )
    assert reply.status_code == 422
    assert [error["loc"] for error in reply.json()["detail"]] == [field_path]
    assert fake.calls == []


async def test_a_missing_item_named_by_the_service_is_422_naming_it() -> None:
    fake = FakeScreening(
        errors={
            "SubmitAnswers": rpc_error(
                grpc.StatusCode.INVALID_ARGUMENT, "answers.q4: required", "answers.q4"
            )
        }
    )
    answers = {k: v for k, v in PHQ9.items() if k != "q4"}
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": answers,
        "submission_id": SUBMISSION,
    }
    async with client(fake) as http:
        reply = await http.post("/v1/screening/sittings/submissions", json=body, headers=SITTING)
    assert reply.status_code == 422
    assert reply.json()["detail"] == [{"loc": ["body", "answers.q4"], "msg": "required"}]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.FAILED_PRECONDITION, 409),
        (grpc.StatusCode.UNAVAILABLE, 503),
    ],
)
async def test_the_services_answer_to_a_submission_comes_back_as_http(
    code: grpc.StatusCode, expected: int
) -> None:
    fake = FakeScreening(errors={"SubmitAnswers": rpc_error(code, "sitting token expired")})
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": PHQ9,
        "submission_id": SUBMISSION,
    }
    async with client(fake) as http:
        reply = await http.post("/v1/screening/sittings/submissions", json=body, headers=SITTING)
    assert reply.status_code == expected


# --- results -----------------------------------------------------------------------------


async def test_results_are_listed_from_a_level_up() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.get(
            "/v1/screening/results",
            params={"campaign_id": "c1", "org_unit": CLASS, "at_least": "orange", "page_size": 20},
            headers=as_role("psych_teacher"),
        )
        wrong = await http.get(
            "/v1/screening/results", params={"at_least": "purple"}, headers=as_role("psych_teacher")
        )
    assert reply.json()["results"][0]["suggested_level"] == "red"
    _, request, _ = fake.only_call()
    assert (request.campaign_id, request.org_unit, request.at_least, request.page_size) == (
        "c1",
        CLASS,
        pb.RISK_LEVEL_ORANGE,
        20,
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["query", "at_least"]


async def test_a_result_comes_with_its_answers_and_is_never_cached() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.get(
            f"/v1/screening/results/{SUBMISSION}", headers=as_role("psych_teacher")
        )
    assert reply.headers["cache-control"] == "no-store"
    result = reply.json()
    assert result["answers"] == PHQ9
    assert result["summary"]["instrument"] == {"instrument_id": "phq-9", "version": "1.0.0"}
    assert (result["total"], result["band"]) == (14, "moderate")


async def test_a_result_outside_the_callers_scope_is_403() -> None:
    fake = FakeScreening(
        errors={"GetResult": rpc_error(grpc.StatusCode.PERMISSION_DENIED, "not your school")}
    )
    async with client(fake) as http:
        reply = await http.get(
            f"/v1/screening/results/{SUBMISSION}", headers=as_role("psych_teacher")
        )
    assert reply.status_code == 403
    assert reply.json() == {"detail": "outside your scope"}


async def test_a_level_is_confirmed_with_a_reason() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            f"/v1/screening/results/{SUBMISSION}/confirmation",
            json={"level": "orange", "reason": "talked with the student; no plan"},
            headers=as_role("psych_teacher"),
        )
        without_reason = await http.post(
            f"/v1/screening/results/{SUBMISSION}/confirmation",
            json={"level": "orange"},
            headers=as_role("psych_teacher"),
        )
    assert reply.json()["confirmed_level"] == "orange"
    _, request, _ = fake.only_call()
    assert (request.submission_id, request.level, request.reason) == (
        SUBMISSION,
        pb.RISK_LEVEL_ORANGE,
        "talked with the student; no plan",
    )
    assert without_reason.status_code == 422
    assert without_reason.json()["detail"][0]["loc"] == ["body", "reason"]


async def test_an_instruments_definition_is_returned_as_json() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.get("/v1/screening/instruments/phq-9/1.0.0", headers=as_role("student"))
    assert reply.json()["definition"] == {"id": "phq-9", "items": [{"id": "q1"}]}
    assert reply.json()["summary"]["instrument_id"] == "phq-9"
    request = fake.only_call()[1]
    assert (request.instrument.instrument_id, request.instrument.version) == ("phq-9", "1.0.0")


async def test_guardian_tasks_are_listed_and_completed_with_a_note() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        listing = await http.get(
            f"/v1/screening/schools/{SCHOOL}/guardian-tasks",
            params={"include_done": "true"},
            headers=as_role("psych_teacher"),
        )
        done = await http.post(
            "/v1/screening/guardian-tasks/task-1/completion",
            json={"note": "met both parents at school"},
            headers=as_role("school_admin"),
        )
    assert listing.json()["tasks"][0]["status"] == "open"
    assert listing.json()["next_page_token"] == "next-tasks"
    assert done.json()["status"] == "done"
    assert fake.calls[0][1].include_done
    assert (fake.calls[0][1].page_size, fake.calls[0][1].page_token) == (100, "")
    assert (fake.calls[1][1].task_id, fake.calls[1][1].note) == (
        "task-1",
        "met both parents at school",
    )


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/v1/screening/schools/{SCHOOL}/rescreening", "candidates"),
        (f"/v1/screening/schools/{SCHOOL}/guardian-tasks", "tasks"),
    ],
)
async def test_school_lists_page_with_size_and_token(path: str, field: str) -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.get(
            path, params={"page_size": 25, "page_token": "abc"}, headers=as_role("school_admin")
        )
        too_big = await http.get(path, params={"page_size": 501}, headers=as_role("psych_teacher"))
    assert reply.status_code == 200
    assert len(reply.json()[field]) == 1
    assert reply.json()["next_page_token"].startswith("next-")
    _, request, _ = fake.only_call()
    assert (request.school_code, request.page_size, request.page_token) == (SCHOOL, 25, "abc")
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["loc"] == ["query", "page_size"]


def test_the_submission_route_documents_its_body() -> None:
    app = FastAPI()
    app.include_router(screening.router)
    operation = app.openapi()["paths"]["/v1/screening/sittings/submissions"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"instrument_id", "version", "answers", "submission_id"}


async def test_a_submission_that_is_not_json_is_422() -> None:
    fake = FakeScreening()
    async with client(fake) as http:
        reply = await http.post(
            "/v1/screening/sittings/submissions", content=b"{not json", headers=SITTING
        )
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][0] == "body"
    assert fake.calls == []


# --- the served app's fast path to the submission route ----------------------------------


def fast_client(fake: FakeScreening, provider: Any = None) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(screening.router)
    app.state.runtime = FakeRuntime(fake)
    fast = screening.SubmissionFastPath(app, provider)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://gateway")


async def test_the_fast_path_answers_as_the_route_does() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": PHQ9,
        "submission_id": SUBMISSION,
    }
    path = "/v1/screening/sittings/submissions"
    refused = FakeScreening(
        errors={"SubmitAnswers": rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "ended")}
    )
    replies = {}
    for name, fake, kwargs in [
        ("accepted", FakeScreening(), {"json": body, "headers": SITTING}),
        ("no token", FakeScreening(), {"json": body}),
        (
            "malformed",
            FakeScreening(),
            {"json": {**body, "answers": {"q1": "x"}}, "headers": SITTING},
        ),
        ("not json", FakeScreening(), {"content": b"{not json", "headers": SITTING}),
        ("refused", refused, {"json": body, "headers": SITTING}),
    ]:
        async with client(fake) as http:
            routed = await http.post(path, **kwargs)
        async with fast_client(fake, provider) as http:
            fast = await http.post(path, **kwargs)
        assert (fast.status_code, fast.content) == (routed.status_code, routed.content), name
        assert {k: v for k, v in fast.headers.items() if k != "content-length"} == {
            k: v for k, v in routed.headers.items() if k != "content-length"
        }, name
        replies[name] = fast.status_code
    assert replies == {
        "accepted": 201,
        "no token": 401,
        "malformed": 422,
        "not json": 422,
        "refused": 409,
    }
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [f"POST {path}"] * 5
    assert [span.attributes["http.status_code"] for span in spans] == [201, 401, 422, 422, 409]
    # The route template only: no URL, no token, no answers in the span.
    for span in spans:
        assert set(span.attributes) == {"http.method", "http.route", "http.status_code"}


async def test_everything_else_goes_through_the_app() -> None:
    fake = FakeScreening()
    async with fast_client(fake) as http:
        reply = await http.put(
            "/v1/screening/sittings/answers",
            json={"instrument_id": "phq-9", "version": "1.0.0", "answers": {"q1": 2}},
            headers=SITTING,
        )
        listed = await http.get("/v1/screening/sittings/submissions", headers=SITTING)
    assert reply.json() == {"answered": 1}
    assert listed.status_code == 405


async def test_a_refusal_on_the_fast_path_is_logged_with_the_route_template(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeScreening(
        errors={"SubmitAnswers": rpc_error(grpc.StatusCode.PERMISSION_DENIED, "not yours")}
    )
    body = {
        "instrument_id": "phq-9",
        "version": "1.0.0",
        "answers": PHQ9,
        "submission_id": SUBMISSION,
    }
    with caplog.at_level("INFO"):
        async with fast_client(fake) as http:
            reply = await http.post(
                "/v1/screening/sittings/submissions", json=body, headers=SITTING
            )
    assert reply.status_code == 403
    denied = [r for r in caplog.records if r.getMessage() == "access.denied"]
    assert [(r.route, r.method) for r in denied] == [  # type: ignore[attr-defined]
        ("/v1/screening/sittings/submissions", "POST")
    ]
