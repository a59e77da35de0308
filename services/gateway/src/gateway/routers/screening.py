"""Screening (the screening service's ScreeningService): instruments, campaigns, class sittings,
answers, results, re-screening and guardian-informing tasks. Translates HTTP ⇄ gRPC only; the
service decides scope and relationships (a head teacher's class, a psychology teacher's school,
a guardian's child) and what a caller may see of a result.

Three ways a call reaches the service:

- staff and guardians with their Keycloak token, forwarded (``ask``), after the gateway admitted
  their role (docs/access-matrix.md);
- a student joining a class sitting with the join code and the personal code from their slip,
  without any token: the gateway calls ``JoinSitting`` as its own service client (like an
  account activation) and the student receives a *sitting token*;
- answers saved and submitted with that sitting token (``Authorization: Bearer <sitting
  token>``): only screening can verify it, so the gateway passes it inside the request message
  and calls as its own service client.

Anything carrying codes, tokens or answers is answered with ``Cache-Control: no-store``. The
submission route is the platform's hot path at screening time (a whole county's classes
submitting within minutes): it builds one message, makes one call and writes its few bytes of
JSON itself. In the served app (``gateway serve``) it is reached through
:class:`SubmissionFastPath`, past Starlette's routing and middleware stack, with a server span of
its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.access import allow, authenticated
from gateway.backend import ask, call, own_token
from gateway.proto_json import to_json
from gateway.runtime import Runtime, runtime
from xinyu.screening.v1 import screening_pb2 as pb
from xinyu_core.audit import ANONYMOUS
from xinyu_core.auth import Principal, bearer_token
from xinyu_core.errors import Unauthenticated
from xinyu_core.grpc.client import bearer_metadata, trace_metadata

router = APIRouter(prefix="/v1/screening", tags=["screening"])

# Who the gateway admits per route; the service checks scope and relationships again.
OPERATORS = ("operator",)
CAMPAIGN_OWNERS = ("county_admin", "city_admin")
CAMPAIGN_READERS = (
    "school_admin",
    "psych_teacher",
    "head_teacher",
    "subject_teacher",
    "county_admin",
    "county_counsellor",
    "city_admin",
    "auditor",
)
COVERAGE_READERS = (
    "school_admin",
    "psych_teacher",
    "county_admin",
    "county_counsellor",
    "city_admin",
)
CONSENT_RECORDERS = ("guardian", "school_admin", "psych_teacher")
SITTING_STARTERS = ("head_teacher", "psych_teacher")
RESULT_LISTERS = (
    "psych_teacher",
    "head_teacher",
    "school_admin",
    "county_admin",
    "county_counsellor",
    "city_admin",
)
RESULT_READERS = ("psych_teacher",)
LEVEL_CONFIRMERS = ("psych_teacher",)
SCHOOL_STAFF = ("psych_teacher", "school_admin")

NO_STORE = {"Cache-Control": "no-store"}
NO_SITTING_TOKEN = "a sitting token is required (Authorization: Bearer <sitting token>)"  # noqa: S105 - a message

Json = dict[str, Any]
LevelName = Literal["green", "yellow", "orange", "red"]
_LEVELS: dict[str, pb.RiskLevel.ValueType] = {
    "green": pb.RISK_LEVEL_GREEN,
    "yellow": pb.RISK_LEVEL_YELLOW,
    "orange": pb.RISK_LEVEL_ORANGE,
    "red": pb.RISK_LEVEL_RED,
}
_KINDS: dict[str, pb.CampaignKind.ValueType] = {
    "annual": pb.CAMPAIGN_KIND_ANNUAL,
    "rescreening": pb.CAMPAIGN_KIND_RESCREENING,
}

Code = Annotated[str, Field(min_length=1, max_length=40)]
ItemId = Annotated[str, Field(min_length=1, max_length=40)]
AnswerValue = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Answers = Annotated[dict[ItemId, AnswerValue], Field(max_length=500)]


# --- request bodies ----------------------------------------------------------------------


class InstrumentBody(BaseModel):
    instrument_id: str = Field(min_length=1, max_length=64, examples=["phq-a"])
    version: str = Field(min_length=1, max_length=32, examples=["1.0.0"])


class LoadInstrumentBody(BaseModel):
    definition: str = Field(
        min_length=1, max_length=2_000_000, description="the definition, YAML or JSON"
    )
    policy: str = Field(
        default="",
        max_length=200_000,
        description="the suggested level of each band, cut-off and critical rule, YAML or JSON",
    )


class BatteryBody(BaseModel):
    grade_band: str = Field(min_length=1, max_length=40, examples=["junior_secondary"])
    instruments: list[InstrumentBody] = Field(min_length=1, max_length=20)


class OpenCampaignBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["annual", "rescreening"] = "annual"
    scope_code: Code = Field(description="the county or city code the campaign covers")
    school_codes: list[Code] = Field(default=[], max_length=5000, description="empty: all")
    cohorts: list[Annotated[int, Field(ge=1990, le=2100)]] = Field(
        default=[], max_length=20, description="entry years taking part; empty: all"
    )
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    batteries: list[BatteryBody] = Field(min_length=1, max_length=20)
    consent_required_under_age: int | None = Field(
        default=None,
        ge=0,
        le=18,
        description="students younger need a guardian's consent; unset: 14 (PIPL); 0: none",
    )


class ConsentBody(BaseModel):
    student_id: str = Field(min_length=1, max_length=64)
    granted: bool


class StartSittingBody(BaseModel):
    campaign_id: str = Field(min_length=1, max_length=64)
    class_code: Code
    minutes: int = Field(default=90, ge=1, le=240, description="how long the join code lasts")


class JoinBody(BaseModel):
    join_code: str = Field(min_length=1, max_length=16, description="shown to the class")
    personal_code: str = Field(min_length=1, max_length=16, description="from the student's slip")


class AnswersBody(BaseModel):
    instrument_id: str = Field(min_length=1, max_length=64, examples=["phq-a"])
    version: str = Field(min_length=1, max_length=32, examples=["1.0.0"])
    answers: Answers = Field(description="item id → the option's value")


class SubmissionBody(AnswersBody):
    submission_id: UUID = Field(description="chosen by the app, so a resent submission is known")


class ConfirmationBody(BaseModel):
    level: LevelName
    reason: str = Field(min_length=1, max_length=2000)


class CompletionBody(BaseModel):
    note: str = Field(
        min_length=1, max_length=2000, description="how and when the guardian was informed"
    )


# --- helpers -----------------------------------------------------------------------------


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def _ref(instrument_id: str, version: str) -> pb.InstrumentRef:
    return pb.InstrumentRef(instrument_id=instrument_id, version=version)


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


async def _as_gateway(request: Request, rt: Runtime, rpc: Any, message: Any) -> Any:
    """Calls ``rpc(message)`` as the gateway's own service client: for a caller who has no
    Keycloak token (the student's codes, or the sitting token inside ``message``, prove who)."""
    token = await own_token(rt, "screening sittings")
    return await call(request, ANONYMOUS, rpc(message, metadata=bearer_metadata(token)))


async def _with_sitting_token(request: Request, rt: Runtime, rpc: Any, message: Any) -> Any:
    """Like :func:`_as_gateway`, for the answer routes: on the channel without interceptors,
    with the deadline and the trace context passed here."""
    token = await own_token(rt, "screening sittings")
    return await call(
        request,
        ANONYMOUS,
        rpc(
            message,
            metadata=(*bearer_metadata(token), *trace_metadata()),
            timeout=rt.settings.backend_deadline_seconds,
        ),
    )


def _sitting_token(authorization: str | None) -> str:
    try:
        return bearer_token(authorization)
    except Unauthenticated as error:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=NO_SITTING_TOKEN,
            headers={"WWW-Authenticate": "Bearer"},
        ) from error


# --- sittings (first: the answer routes are the hot path) -----------------------------


SUBMISSIONS_PATH = "/v1/screening/sittings/submissions"


@router.post(
    "/sittings/submissions",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "this submission id had been accepted before; nothing changed"}
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SubmissionBody.model_json_schema()}},
        }
    },
)
async def submit_answers(request: Request) -> Response:
    """Submits one instrument's complete answers: 201 when accepted, 200 (``duplicate``: true)
    for a repeat of an accepted submission id. A problem with the answers is 422 naming the
    item (``loc``: ``["body", "answers.q4"]``). Sitting token.

    The hot path, so leaner than the other routes: the body is parsed and checked in one step
    by pydantic (``model_validate_json``) instead of through FastAPI's parameter machinery,
    and the answer is written here rather than through a response model."""
    rt: Runtime = request.app.state.runtime
    try:
        body = SubmissionBody.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error
    submission_id = str(body.submission_id)
    reply = await _with_sitting_token(
        request,
        rt,
        rt.screening_direct.SubmitAnswers,
        pb.SubmitAnswersRequest(
            sitting_token=_sitting_token(request.headers.get("authorization")),
            instrument=pb.InstrumentRef(instrument_id=body.instrument_id, version=body.version),
            answers=body.answers,
            submission_id=submission_id,
        ),
    )
    duplicate = reply.duplicate
    return Response(
        content=(
            f'{{"submission_id":"{reply.submission_id or submission_id}",'
            f'"duplicate":{"true" if duplicate else "false"}}}'
        ),
        status_code=status.HTTP_200_OK if duplicate else status.HTTP_201_CREATED,
        media_type="application/json",
        headers=NO_STORE,
    )


class SubmissionFastPath:
    """ASGI: ``POST /v1/screening/sittings/submissions`` goes straight to :func:`submit_answers`;
    everything else to ``app`` (the FastAPI app) as before.

    Why: on a screening day this route carries nearly every request, and Starlette's stack
    around it (routing over every route, the exception and error middlewares, the ASGI
    telemetry middleware with its attribute collection) cost about as much CPU as the route
    itself. Here the route's own code runs unchanged; its refusals are rendered by FastAPI's
    own exception handlers, so the answers are the same to the byte; an unexpected error is a
    plain 500 as Starlette's error middleware gives (and is raised on to uvicorn, which logs
    it). Its server span is made here, with the trace context of the request's headers, the
    route template as its name and ``http.route``, the method and the status: never the URL,
    the body, a token or an answer."""

    def __init__(self, app: ASGIApp, tracer_provider: TracerProvider | None = None) -> None:
        self.app = app
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        # This module's route (the app includes the router, so its routes are not the app's).
        self._route: BaseRoute = next(
            r for r in router.routes if getattr(r, "path", None) == SUBMISSIONS_PATH
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != SUBMISSIONS_PATH
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        # What Starlette would have put there: the app (its state holds the runtime) and the
        # matched route (audit records name its template).
        scope["app"] = self.app
        scope["route"] = self._route
        request = Request(scope, receive)
        with self._tracer.start_as_current_span(
            f"POST {SUBMISSIONS_PATH}",
            context=extract(dict(scope), getter=asgi_getter),
            kind=SpanKind.SERVER,
            attributes={"http.method": "POST", "http.route": SUBMISSIONS_PATH},
        ) as span:
            try:
                response = await submit_answers(request)
            except HTTPException as error:
                response = await http_exception_handler(request, error)
            except RequestValidationError as error:
                response = await request_validation_exception_handler(request, error)
            except Exception:
                span.set_attribute("http.status_code", 500)
                span.set_status(Status(StatusCode.ERROR))
                await PlainTextResponse("Internal Server Error", status_code=500)(
                    scope, receive, send
                )
                raise
            span.set_attribute("http.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            await response(scope, receive, send)


@router.put("/sittings/answers")
async def save_answers(
    body: AnswersBody,
    request: Request,
    response: Response,
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> Json:
    """Saves answers as the student goes, merged into what was saved. Sitting token."""
    reply = await _with_sitting_token(
        request,
        rt,
        rt.screening_direct.SaveAnswers,
        pb.SaveAnswersRequest(
            sitting_token=_sitting_token(authorization),
            instrument=_ref(body.instrument_id, body.version),
            answers=body.answers,
        ),
    )
    _no_store(response)
    return {"answered": reply.answered}


@router.post("/sittings/join")
async def join_sitting(
    body: JoinBody,
    request: Request,
    response: Response,
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A student joins with the join code shown to the class and the personal code from their
    slip; no token needed (the gateway calls as its own client). The answer holds the sitting
    token for saving and submitting answers, and anything saved before (to resume). A wrong
    personal code is 422 naming ``personal_code`` (the tries left are counted per sitting), an
    unknown join code 404, an ended sitting 409."""
    reply = await _as_gateway(
        request,
        rt,
        rt.screening.JoinSitting,
        pb.JoinSittingRequest(join_code=body.join_code, personal_code=body.personal_code),
    )
    _no_store(response)
    return to_json(reply)


@router.post("/sittings", status_code=status.HTTP_201_CREATED)
async def start_sitting(
    body: StartSittingBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*SITTING_STARTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A class sitting: the join code to show the class and one personal code per student for
    the slips. Shown in this answer only."""
    reply = await ask(
        request,
        principal,
        rt.screening.StartSitting,
        pb.StartSittingRequest(
            campaign_id=body.campaign_id, class_code=body.class_code, minutes=body.minutes
        ),
    )
    _no_store(response)
    return to_json(reply)


# --- instruments -------------------------------------------------------------------------


@router.get("/instruments")
async def list_instruments(
    request: Request,
    principal: Annotated[Principal, Depends(authenticated)],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """The instruments this deployment can administer. Anyone signed in."""
    reply = await ask(request, principal, rt.screening.ListInstruments, pb.ListInstrumentsRequest())
    return to_json(reply)


@router.get("/instruments/{instrument_id}/{version}")
async def get_instrument(
    instrument_id: str,
    version: str,
    request: Request,
    principal: Annotated[Principal, Depends(authenticated)],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """One instrument version: its summary and its whole definition (``definition``, parsed from
    the service's JSON) for the apps to render the items."""
    reply = await ask(
        request,
        principal,
        rt.screening.GetInstrument,
        pb.GetInstrumentRequest(instrument=_ref(instrument_id, version)),
    )
    return {
        "summary": to_json(reply.summary),
        "definition": json.loads(reply.definition_json) if reply.definition_json else None,
    }


@router.post("/instruments", status_code=status.HTTP_201_CREATED)
async def load_instrument(
    body: LoadInstrumentBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*OPERATORS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A licensed instrument's definition, loaded by an operator who holds the licence."""
    reply = await ask(
        request,
        principal,
        rt.screening.LoadInstrument,
        pb.LoadInstrumentRequest(definition=body.definition, policy=body.policy),
    )
    return to_json(reply.summary)


# --- campaigns ---------------------------------------------------------------------------


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
async def open_campaign(
    body: OpenCampaignBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*CAMPAIGN_OWNERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A county (its schools) or the city opens a campaign for its scope."""
    reply = await ask(
        request,
        principal,
        rt.screening.OpenCampaign,
        pb.OpenCampaignRequest(
            name=body.name,
            kind=_KINDS[body.kind],
            scope_code=body.scope_code,
            school_codes=body.school_codes,
            cohorts=body.cohorts,
            opens_at=_timestamp(body.opens_at),
            closes_at=_timestamp(body.closes_at),
            batteries=[
                pb.Battery(
                    grade_band=battery.grade_band,
                    instruments=[_ref(i.instrument_id, i.version) for i in battery.instruments],
                )
                for battery in body.batteries
            ],
            consent_required_under_age=body.consent_required_under_age,
        ),
    )
    campaign: Json = to_json(reply.campaign)
    response.headers["Location"] = f"/v1/screening/campaigns/{reply.campaign.campaign_id}"
    return campaign


@router.post("/campaigns/{campaign_id}/close")
async def close_campaign(
    campaign_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*CAMPAIGN_OWNERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    reply = await ask(
        request,
        principal,
        rt.screening.CloseCampaign,
        pb.CloseCampaignRequest(campaign_id=campaign_id),
    )
    return to_json(reply.campaign)


@router.get("/campaigns")
async def list_campaigns(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*CAMPAIGN_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    org_unit: Annotated[str, Query(max_length=40, description="empty: your own unit")] = "",
    include_closed: bool = False,
) -> Json:
    """Campaigns covering a unit (a school sees its county's and the city's)."""
    reply = await ask(
        request,
        principal,
        rt.screening.ListCampaigns,
        pb.ListCampaignsRequest(org_unit=org_unit, include_closed=include_closed),
    )
    return to_json(reply)


@router.get("/campaigns/{campaign_id}")
async def get_campaign(
    campaign_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*CAMPAIGN_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    reply = await ask(
        request,
        principal,
        rt.screening.GetCampaign,
        pb.GetCampaignRequest(campaign_id=campaign_id),
    )
    return to_json(reply.campaign)


@router.get("/campaigns/{campaign_id}/coverage")
async def get_coverage(
    campaign_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*COVERAGE_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    org_unit: Annotated[str, Query(max_length=40, description="empty: your own unit")] = "",
) -> Json:
    """Live coverage: students expected, started and submitted, per child unit."""
    reply = await ask(
        request,
        principal,
        rt.screening.GetCoverage,
        pb.GetCoverageRequest(campaign_id=campaign_id, org_unit=org_unit),
    )
    return to_json(reply)


@router.post("/campaigns/{campaign_id}/consents")
async def record_consent(
    campaign_id: str,
    body: ConsentBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*CONSENT_RECORDERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A guardian's consent for their child under the campaign's consent age, or the school's
    record of a paper form."""
    reply = await ask(
        request,
        principal,
        rt.screening.RecordConsent,
        pb.RecordConsentRequest(
            campaign_id=campaign_id, student_id=body.student_id, granted=body.granted
        ),
    )
    return to_json(reply)


# --- results -----------------------------------------------------------------------------


@router.get("/results")
async def list_results(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*RESULT_LISTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    campaign_id: Annotated[str, Query(max_length=64)] = "",
    org_unit: Annotated[str, Query(max_length=40, description="empty: your own unit")] = "",
    at_least: LevelName | None = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Json:
    """Results under a unit, without answers. What a caller sees depends on who they are: a
    psychology teacher their school's suggested and confirmed levels, a head teacher only which
    students of their class need follow-up, a county or the city only confirmed levels."""
    reply = await ask(
        request,
        principal,
        rt.screening.ListResults,
        pb.ListResultsRequest(
            campaign_id=campaign_id,
            org_unit=org_unit,
            at_least=_LEVELS[at_least] if at_least else pb.RISK_LEVEL_UNSPECIFIED,
            page_size=page_size,
            page_token=page_token,
        ),
    )
    return to_json(reply)


@router.get("/results/{submission_id}")
async def get_result(
    submission_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*RESULT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """One result with its scores and answers: psychology teachers of the student's school.
    Every read is audited by the service."""
    reply = await ask(
        request,
        principal,
        rt.screening.GetResult,
        pb.GetResultRequest(submission_id=submission_id),
    )
    _no_store(response)
    return to_json(reply.result)


@router.post("/results/{submission_id}/confirmation")
async def confirm_level(
    submission_id: str,
    body: ConfirmationBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*LEVEL_CONFIRMERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A psychology teacher confirms or changes the suggested level, with a reason."""
    reply = await ask(
        request,
        principal,
        rt.screening.ConfirmLevel,
        pb.ConfirmLevelRequest(
            submission_id=submission_id, level=_LEVELS[body.level], reason=body.reason
        ),
    )
    return to_json(reply.summary)


# --- re-screening and guardian-informing tasks -------------------------------------------


@router.get("/schools/{school_code}/rescreening")
async def list_rescreening(
    school_code: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_STAFF))],
    rt: Annotated[Runtime, Depends(runtime)],
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Json:
    """Key students of a school to re-screen this semester, a page at a time."""
    reply = await ask(
        request,
        principal,
        rt.screening.ListRescreening,
        pb.ListRescreeningRequest(
            school_code=school_code, page_size=page_size, page_token=page_token
        ),
    )
    return to_json(reply)


@router.get("/schools/{school_code}/guardian-tasks")
async def list_guardian_tasks(
    school_code: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_STAFF))],
    rt: Annotated[Runtime, Depends(runtime)],
    include_done: bool = False,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Json:
    """Guardian-informing tasks that follow high-risk results, a page at a time."""
    reply = await ask(
        request,
        principal,
        rt.screening.ListGuardianTasks,
        pb.ListGuardianTasksRequest(
            school_code=school_code,
            include_done=include_done,
            page_size=page_size,
            page_token=page_token,
        ),
    )
    return to_json(reply)


@router.post("/guardian-tasks/{task_id}/completion")
async def complete_guardian_task(
    task_id: str,
    body: CompletionBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*SCHOOL_STAFF))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    reply = await ask(
        request,
        principal,
        rt.screening.CompleteGuardianTask,
        pb.CompleteGuardianTaskRequest(task_id=task_id, note=body.note),
    )
    return to_json(reply.task)
