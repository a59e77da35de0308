"""Alerts (the alerts service's AlertService): people's reports of a concern about a student
(protected ones included, R23), alerts by unit, one alert with its routing and notifications,
acknowledgement and closure, review tasks for partner reports the service could not place,
crisis cases step by step (R9–R11) and asking police to help locate a missing student (R12).
Translates HTTP ⇄ gRPC only: the service decides scope and relationships (a responder an alert
was routed to, a case's owner, a guardian's child, a county's review tasks) and hides a
protected report's reporter from everyone but the case owner.

Anything with an alert's or a case's details (descriptions, notes, the people told, a partner's
raw message) is answered with ``Cache-Control: no-store``; lists carry no free text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from gateway.access import allow
from gateway.backend import ask
from gateway.proto_json import enum_number, to_json
from gateway.runtime import Runtime, runtime
from xinyu.alerts.v1 import alerts_pb2 as pb
from xinyu_core.auth import Principal

router = APIRouter(tags=["alerts"])

# Who the gateway admits per route (the proto's comments); the service checks scope and
# relationships again.
REPORTERS = (
    "head_teacher",
    "subject_teacher",
    "health_committee",
    "psych_teacher",
    "school_admin",
    "guardian",
    "county_counsellor",
)
# Staff in scope of the student's school, and responders the alert was routed to (a head
# teacher, a mentor, a guardian): alerts knows whom it told.
ALERT_READERS = (
    "school_admin",
    "psych_teacher",
    "head_teacher",
    "subject_teacher",
    "guardian",
    "county_admin",
    "county_counsellor",
    "city_admin",
)
ALERT_LISTERS = ("school_admin", "psych_teacher", "county_admin", "county_counsellor", "city_admin")
HANDLERS = ("psych_teacher", "school_admin", "county_counsellor", "city_admin")
REVIEWERS = ("county_counsellor", "county_admin", "city_admin")
CASE_READERS = ("psych_teacher", "school_admin", "county_admin", "county_counsellor", "city_admin")
# The case owner (a psychology teacher, or whoever OpenCase named), the school's admin and the
# county's counsellors; alerts knows the owner.
CASE_WRITERS = ("psych_teacher", "school_admin", "county_counsellor")
LOCATE_REQUESTERS = ("psych_teacher", "school_admin")

Json = dict[str, Any]
Id = Annotated[str, Field(min_length=1, max_length=64)]
CategoryName = Literal[
    "family_change",
    "conflict",
    "withdrawal",
    "self_harm_signs",
    "suicide_risk",
    "violence",
    "abuse",
    "bullying",
    "missing",
    "online_risk",
    "other",
]
SeverityName = Literal["low", "medium", "high", "critical"]
AlertStatusName = Literal["open", "acknowledged", "closed"]
ReviewStatusName = Literal["open", "attached", "dismissed"]
StepKindName = Literal["guardian_contact", "assessment", "intervention", "referral", "monitoring"]
ReasonCode = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$", examples=["handled"]),
]
Text = Annotated[str, Field(min_length=1, max_length=4000)]


# --- request bodies ----------------------------------------------------------------------


class ReportBody(BaseModel):
    student_id: Id
    category: CategoryName
    severity: SeverityName | None = Field(
        default=None, description="your judgement; the policy may raise it, never lower it"
    )
    description: Text = Field(description="what was observed (kept encrypted)")
    protected_report: bool = Field(
        default=False,
        description="R23 (violence, abuse, bullying): the reporter is known to the case owner only",
    )
    observed_at: datetime | None = Field(default=None, description="unset: now")


class CloseAlertBody(BaseModel):
    outcome: ReasonCode = Field(description="e.g. handled, no-concern, duplicate")


class ResolutionBody(BaseModel):
    """Attach to a student (an alert is raised at their current school) or dismiss with a
    reason code: exactly one of ``student_id`` and ``dismiss_reason``."""

    student_id: Id | None = None
    dismiss_reason: ReasonCode | None = Field(default=None, examples=["not-a-student"])
    severity: SeverityName | None = Field(
        default=None, description="of the alert an attachment raises; unset: the unit's hint"
    )


class OpenCaseBody(BaseModel):
    owner: str = Field(default="", max_length=64, description="a Keycloak username; empty: you")


class CaseStepBody(BaseModel):
    kind: StepKindName = Field(description="the first step of a case is guardian_contact (R9)")
    note: Text
    occurred_at: datetime | None = Field(default=None, description="unset: now")


class CloseCaseBody(BaseModel):
    summary: Text


class LocateBody(BaseModel):
    student_id: Id
    unit: str = Field(
        default="",
        max_length=64,
        description="the police unit, e.g. unit-police-360702; empty: the county's",
    )
    last_seen_at: datetime | None = None
    details: Text = Field(description="what the police need; sent to that unit only")
    school_contact: str = Field(min_length=1, max_length=200, description="who they call back")


# --- helpers -----------------------------------------------------------------------------


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def _severity(name: str | None) -> pb.Severity.ValueType:
    if name is None:
        return pb.SEVERITY_UNSPECIFIED
    return pb.Severity.ValueType(enum_number(pb.Severity.DESCRIPTOR, name))


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


# --- alerts ------------------------------------------------------------------------------


@router.post("/v1/alerts", status_code=status.HTTP_201_CREATED)
async def raise_report(
    body: ReportBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*REPORTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A concern about a student, reported by a person: staff of the student's school, a
    teacher of the student, a guardian of their own child, a county counsellor. The alert is
    routed at once; a protected report always opens a case."""
    reply = await ask(
        request,
        principal,
        rt.alerts.RaiseReport,
        pb.RaiseReportRequest(
            student_id=body.student_id,
            category=pb.Category.ValueType(enum_number(pb.Category.DESCRIPTOR, body.category)),
            severity=_severity(body.severity),
            description=body.description,
            protected_report=body.protected_report,
            observed_at=_timestamp(body.observed_at),
        ),
    )
    _no_store(response)
    response.headers["Location"] = f"/v1/alerts/{reply.alert.alert_id}"
    return to_json(reply.alert)


@router.get("/v1/alerts")
async def list_alerts(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*ALERT_LISTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    org_unit: Annotated[str, Query(max_length=40, description="empty: your own unit")] = "",
    alert_status: Annotated[
        list[AlertStatusName] | None, Query(alias="status", description="repeatable; none: all")
    ] = None,
    student_id: Annotated[str, Query(max_length=64)] = "",
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Json:
    """Alerts of a school, a county or the city, newest first, without free text."""
    reply = await ask(
        request,
        principal,
        rt.alerts.ListAlerts,
        pb.ListAlertsRequest(
            org_unit=org_unit,
            statuses=[
                pb.AlertStatus.ValueType(enum_number(pb.AlertStatus.DESCRIPTOR, name))
                for name in alert_status or ()
            ],
            student_id=student_id,
            page_size=page_size,
            page_token=page_token,
        ),
    )
    return to_json(reply)


@router.get("/v1/alerts/{alert_id}")
async def get_alert(
    alert_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*ALERT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """One alert with its description, routing history and notifications. Audited."""
    reply = await ask(request, principal, rt.alerts.GetAlert, pb.GetAlertRequest(alert_id=alert_id))
    _no_store(response)
    return to_json(reply)


@router.get("/v1/alerts/{alert_id}/notifications")
async def list_notifications(
    alert_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*ALERT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Who was told, how, and every delivery attempt."""
    reply = await ask(
        request,
        principal,
        rt.alerts.ListNotifications,
        pb.ListNotificationsRequest(alert_id=alert_id),
    )
    _no_store(response)
    return to_json(reply)


@router.post("/v1/alerts/{alert_id}/acknowledgement")
async def acknowledge_alert(
    alert_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*ALERT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Someone it was routed to (or staff in scope) has it: the escalation timer stops.
    Again: 200, nothing changes."""
    reply = await ask(
        request,
        principal,
        rt.alerts.AcknowledgeAlert,
        pb.AcknowledgeAlertRequest(alert_id=alert_id),
    )
    return to_json(reply.alert)


@router.post("/v1/alerts/{alert_id}/closure")
async def close_alert(
    alert_id: str,
    body: CloseAlertBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*HANDLERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Closes an alert with an outcome code; a partner unit's report gets its receipt."""
    reply = await ask(
        request,
        principal,
        rt.alerts.CloseAlert,
        pb.CloseAlertRequest(alert_id=alert_id, outcome=body.outcome),
    )
    return to_json(reply.alert)


@router.post("/v1/alerts/{alert_id}/case", status_code=status.HTTP_201_CREATED)
async def open_case(
    alert_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*HANDLERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    body: OpenCaseBody | None = None,
) -> Json:
    """Opens a crisis case on an alert the policy did not open one for (409 when it has one)."""
    reply = await ask(
        request,
        principal,
        rt.alerts.OpenCase,
        pb.OpenCaseRequest(alert_id=alert_id, owner=body.owner if body else ""),
    )
    _no_store(response)
    response.headers["Location"] = f"/v1/cases/{reply.case.case_id}"
    return to_json(reply.case)


# --- review tasks ------------------------------------------------------------------------


@router.get("/v1/review-tasks")
async def list_review_tasks(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*REVIEWERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    task_status: Annotated[
        list[ReviewStatusName] | None,
        Query(alias="status", description="repeatable; none: open ones"),
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Json:
    """Partner reports that could not become an alert on their own, of your county (the city:
    all), without their raw messages."""
    reply = await ask(
        request,
        principal,
        rt.alerts.ListReviewTasks,
        pb.ListReviewTasksRequest(
            statuses=[
                pb.ReviewStatus.ValueType(enum_number(pb.ReviewStatus.DESCRIPTOR, name))
                for name in task_status or ()
            ],
            page_size=page_size,
        ),
    )
    return to_json(reply)


@router.post("/v1/review-tasks/{task_id}/resolution")
async def resolve_review_task(
    task_id: str,
    body: ResolutionBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*REVIEWERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Attach to a student or dismiss; the answer holds the raw report (audited). A task
    already resolved is 409."""
    if (body.student_id is None) == (body.dismiss_reason is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "student_id" if body.student_id is None else "dismiss_reason"],
                    "msg": "give either student_id (attach) or dismiss_reason (dismiss)",
                    "type": "value_error",
                }
            ],
        )
    message = pb.ResolveReviewTaskRequest(task_id=task_id, severity=_severity(body.severity))
    if body.student_id is not None:
        message.student_id = body.student_id
    else:
        message.dismiss_reason = body.dismiss_reason or ""
    reply = await ask(request, principal, rt.alerts.ResolveReviewTask, message)
    _no_store(response)
    return to_json(reply)


# --- crisis cases ------------------------------------------------------------------------


@router.get("/v1/cases/{case_id}")
async def get_case(
    case_id: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*CASE_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A case with its steps; a protected report's reporter for the owner only. Audited."""
    reply = await ask(request, principal, rt.alerts.GetCase, pb.GetCaseRequest(case_id=case_id))
    _no_store(response)
    return to_json(reply.case)


@router.post("/v1/cases/{case_id}/steps")
async def record_case_step(
    case_id: str,
    body: CaseStepBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*CASE_WRITERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """A step (who, when, what). The guardians are contacted first (else 409); a closed case
    takes no more steps (409)."""
    reply = await ask(
        request,
        principal,
        rt.alerts.RecordCaseStep,
        pb.RecordCaseStepRequest(
            case_id=case_id,
            kind=pb.CaseStepKind.ValueType(enum_number(pb.CaseStepKind.DESCRIPTOR, body.kind)),
            note=body.note,
            occurred_at=_timestamp(body.occurred_at),
        ),
    )
    _no_store(response)
    return to_json(reply.case)


@router.post("/v1/cases/{case_id}/closure")
async def close_case(
    case_id: str,
    body: CloseCaseBody,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*CASE_WRITERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """Closes a case with its summary (required)."""
    reply = await ask(
        request,
        principal,
        rt.alerts.CloseCase,
        pb.CloseCaseRequest(case_id=case_id, summary=body.summary),
    )
    _no_store(response)
    return to_json(reply.case)


# --- locating a missing student ----------------------------------------------------------


@router.post("/v1/locate-requests", status_code=status.HTTP_201_CREATED)
async def request_locate_help(
    body: LocateBody,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*LOCATE_REQUESTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> Json:
    """The school asks a police unit to help locate a student who went missing (R12); the
    details go to that unit only."""
    reply = await ask(
        request,
        principal,
        rt.alerts.RequestLocateHelp,
        pb.RequestLocateHelpRequest(
            student_id=body.student_id,
            unit=body.unit,
            last_seen_at=_timestamp(body.last_seen_at),
            details=body.details,
            school_contact=body.school_contact,
        ),
    )
    return to_json(reply)
