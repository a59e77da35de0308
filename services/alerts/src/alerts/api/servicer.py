"""gRPC ⇄ domain translation for AlertService. No business rules here."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TypeAlias
from uuid import UUID

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from alerts.adapters.messaging.events import (
    CATEGORY_OF_PB,
    CATEGORY_PB,
    LEVEL_PB,
    REVIEW_KIND_PB,
    REVIEW_STATUS_OF_PB,
    REVIEW_STATUS_PB,
    SEVERITY_OF_PB,
    SEVERITY_PB,
    SOURCE_PB,
    STATUS_OF_PB,
    STATUS_PB,
    STEP_OF_PB,
    STEP_PB,
    locate_topic,
    timestamp,
)
from alerts.domain.model import (
    Alert,
    Case,
    Notification,
    NotificationStatus,
    ReviewTask,
    Routing,
)
from alerts.domain.service import AlertService, NewReport, Resolution
from xinyu.alerts.v1 import alerts_pb2 as pb
from xinyu.alerts.v1 import alerts_pb2_grpc
from xinyu_core.errors import InvalidArgument
from xinyu_core.grpc.server import current_principal

Context: TypeAlias = grpc.aio.ServicerContext

_NOTIFICATION_STATUS = {
    NotificationStatus.PENDING: pb.NOTIFICATION_STATUS_PENDING,
    NotificationStatus.DELIVERED: pb.NOTIFICATION_STATUS_DELIVERED,
    NotificationStatus.FAILED: pb.NOTIFICATION_STATUS_FAILED,
}


def _when(value: Timestamp, present: bool) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if present else None


def alert_pb(alert: Alert) -> pb.Alert:
    return pb.Alert(
        alert_id=str(alert.alert_id),
        student_id=str(alert.student.student_id),
        school_code=alert.student.school_code,
        county_code=alert.student.county_code,
        class_code=alert.student.class_code,
        severity=SEVERITY_PB[alert.severity],
        source=SOURCE_PB[alert.source],
        category=CATEGORY_PB[alert.category],
        status=STATUS_PB[alert.status],
        level=LEVEL_PB[alert.level] if alert.level else pb.LEVEL_UNSPECIFIED,
        raised_at=timestamp(alert.raised_at),
        acknowledge_by=timestamp(alert.acknowledge_by),
        acknowledged_at=timestamp(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by,
        closed_at=timestamp(alert.closed_at),
        source_ref=alert.source_ref,
        protected_report=alert.protected,
        case_id=alert.case_id,
        description=alert.description,
        reporter=alert.reporter,
    )


def routing_pb(routing: Routing) -> pb.Routing:
    return pb.Routing(
        level=LEVEL_PB[routing.level],
        routed_at=timestamp(routing.routed_at),
        notified=routing.notified,
        reason=routing.reason,
    )


def notification_pb(notification: Notification) -> pb.Notification:
    return pb.Notification(
        notification_id=str(notification.notification_id),
        alert_id=str(notification.alert_id),
        level=LEVEL_PB[notification.level],
        role=notification.role,
        recipient=notification.recipient,
        channel=notification.channel,
        status=_NOTIFICATION_STATUS[notification.status],
        requested_at=timestamp(notification.requested_at),
        delivered_at=timestamp(notification.delivered_at),
        attempts=[
            pb.DeliveryAttempt(
                attempted_at=timestamp(a.attempted_at), delivered=a.delivered, error=a.error
            )
            for a in notification.attempts
        ],
    )


def review_pb(task: ReviewTask) -> pb.ReviewTask:
    return pb.ReviewTask(
        task_id=str(task.task_id),
        kind=REVIEW_KIND_PB[task.kind],
        status=REVIEW_STATUS_PB[task.status],
        unit=task.unit,
        external_id=task.external_id,
        reason=task.reason,
        created_at=timestamp(task.created_at),
        raw_message=task.raw.decode("utf-8", errors="replace"),
        alert_id=str(task.alert_id) if task.alert_id else "",
        resolution=task.resolution,
    )


def case_pb(case: Case, protected_reporter: str = "") -> pb.Case:
    return pb.Case(
        case_id=case.case_id,
        alert_id=str(case.alert_id),
        student_id=str(case.student.student_id),
        school_code=case.student.school_code,
        county_code=case.student.county_code,
        owner=case.owner,
        status=pb.CASE_STATUS_CLOSED if case.status.value == "closed" else pb.CASE_STATUS_OPEN,
        opened_at=timestamp(case.opened_at),
        closed_at=timestamp(case.closed_at),
        summary=case.summary,
        steps=[
            pb.CaseStep(
                step_id=str(step.step_id),
                kind=STEP_PB[step.kind],
                actor=step.actor,
                occurred_at=timestamp(step.occurred_at),
                recorded_at=timestamp(step.recorded_at),
                note=step.note,
            )
            for step in case.steps
        ],
        protected_reporter=protected_reporter,
    )


def _page_token(alerts: list[Alert], limit: int) -> str:
    if len(alerts) < limit or not alerts:
        return ""
    last = alerts[-1]
    return base64.urlsafe_b64encode(
        f"{last.raised_at.isoformat()}|{last.alert_id}".encode()
    ).decode()


def _after(token: str) -> tuple[datetime, UUID] | None:
    if not token:
        return None
    try:
        moment, alert_id = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(moment), UUID(alert_id)
    except ValueError as error:
        raise InvalidArgument("page_token", "is not a token this service issued") from error


class AlertServicer(alerts_pb2_grpc.AlertServiceServicer):
    def __init__(self, service: AlertService) -> None:
        self._service = service

    async def RaiseReport(
        self, request: pb.RaiseReportRequest, context: Context
    ) -> pb.RaiseReportResponse:
        alert = await self._service.raise_report(
            current_principal(),
            NewReport(
                student_id=request.student_id,
                category=CATEGORY_OF_PB.get(request.category),
                severity=SEVERITY_OF_PB.get(request.severity),
                description=request.description,
                protected=request.protected_report,
                observed_at=_when(request.observed_at, request.HasField("observed_at")),
            ),
        )
        return pb.RaiseReportResponse(alert=alert_pb(alert))

    async def GetAlert(self, request: pb.GetAlertRequest, context: Context) -> pb.GetAlertResponse:
        view = await self._service.get_alert(current_principal(), request.alert_id)
        return pb.GetAlertResponse(
            alert=alert_pb(view.alert),
            routing=[routing_pb(r) for r in view.routing],
            notifications=[notification_pb(n) for n in view.notifications],
        )

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: Context
    ) -> pb.ListAlertsResponse:
        limit = max(1, min(request.page_size or 50, 200))
        alerts = await self._service.list_alerts(
            current_principal(),
            request.org_unit,
            [STATUS_OF_PB[s] for s in request.statuses if s in STATUS_OF_PB],
            request.student_id,
            limit,
            _after(request.page_token),
        )
        return pb.ListAlertsResponse(
            alerts=[alert_pb(a) for a in alerts], next_page_token=_page_token(alerts, limit)
        )

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: Context
    ) -> pb.AcknowledgeAlertResponse:
        alert = await self._service.acknowledge(current_principal(), request.alert_id)
        return pb.AcknowledgeAlertResponse(alert=alert_pb(alert))

    async def CloseAlert(
        self, request: pb.CloseAlertRequest, context: Context
    ) -> pb.CloseAlertResponse:
        alert = await self._service.close_alert(
            current_principal(), request.alert_id, request.outcome
        )
        return pb.CloseAlertResponse(alert=alert_pb(alert))

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        found = await self._service.notifications(current_principal(), request.alert_id)
        return pb.ListNotificationsResponse(notifications=[notification_pb(n) for n in found])

    async def ListReviewTasks(
        self, request: pb.ListReviewTasksRequest, context: Context
    ) -> pb.ListReviewTasksResponse:
        tasks = await self._service.list_reviews(
            current_principal(),
            [REVIEW_STATUS_OF_PB[s] for s in request.statuses if s in REVIEW_STATUS_OF_PB],
            request.page_size,
        )
        return pb.ListReviewTasksResponse(tasks=[review_pb(t) for t in tasks])

    async def ResolveReviewTask(
        self, request: pb.ResolveReviewTaskRequest, context: Context
    ) -> pb.ResolveReviewTaskResponse:
        task, alert = await self._service.resolve_review(
            current_principal(),
            request.task_id,
            Resolution(
                student_id=request.student_id,
                dismiss_reason=request.dismiss_reason,
                severity=SEVERITY_OF_PB.get(request.severity),
            ),
        )
        return pb.ResolveReviewTaskResponse(
            task=review_pb(task), alert=alert_pb(alert) if alert else None
        )

    async def OpenCase(self, request: pb.OpenCaseRequest, context: Context) -> pb.OpenCaseResponse:
        case = await self._service.open_case(current_principal(), request.alert_id, request.owner)
        return pb.OpenCaseResponse(case=case_pb(case))

    async def RecordCaseStep(
        self, request: pb.RecordCaseStepRequest, context: Context
    ) -> pb.RecordCaseStepResponse:
        case = await self._service.record_step(
            current_principal(),
            request.case_id,
            STEP_OF_PB.get(request.kind),
            request.note,
            _when(request.occurred_at, request.HasField("occurred_at")),
        )
        return pb.RecordCaseStepResponse(case=case_pb(case))

    async def CloseCase(
        self, request: pb.CloseCaseRequest, context: Context
    ) -> pb.CloseCaseResponse:
        case = await self._service.close_case(current_principal(), request.case_id, request.summary)
        return pb.CloseCaseResponse(case=case_pb(case))

    async def GetCase(self, request: pb.GetCaseRequest, context: Context) -> pb.GetCaseResponse:
        view = await self._service.get_case(current_principal(), request.case_id)
        return pb.GetCaseResponse(case=case_pb(view.case, view.protected_reporter))

    async def RequestLocateHelp(
        self, request: pb.RequestLocateHelpRequest, context: Context
    ) -> pb.RequestLocateHelpResponse:
        located = await self._service.request_locate_help(
            current_principal(),
            request.student_id,
            request.unit,
            _when(request.last_seen_at, request.HasField("last_seen_at")),
            request.details,
            request.school_contact,
        )
        return pb.RequestLocateHelpResponse(
            request_id=str(located.request_id),
            unit=located.unit,
            topic=locate_topic(located.unit),
        )
