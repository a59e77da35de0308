"""gRPC ⇄ domain translation for ScreeningService. No business rules here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from screening.adapters.messaging.events import KINDS, LEVELS, STATUSES, level, timestamp
from screening.domain.campaigns import CampaignDraft, Campaigns
from screening.domain.instruments import InstrumentDefinition, RiskLevel
from screening.domain.model import (
    Campaign,
    CampaignKind,
    CoverageRow,
    GuardianTaskView,
    InstrumentRef,
    ResultView,
    Sitting,
)
from screening.domain.results import Results
from screening.domain.shelf import InstrumentShelf
from screening.domain.sittings import Sittings
from xinyu.screening.v1 import screening_pb2 as pb
from xinyu.screening.v1 import screening_pb2_grpc
from xinyu_core.grpc.server import current_principal

LEVEL_OF: dict[int, RiskLevel] = {int(value): key for key, value in LEVELS.items()}
KIND_OF: dict[int, CampaignKind] = {int(value): key for key, value in KINDS.items()}
RESPONDENTS = {"student": pb.RESPONDENT_STUDENT, "guardian": pb.RESPONDENT_GUARDIAN}
TASK_STATUSES = {"open": pb.GUARDIAN_TASK_STATUS_OPEN, "done": pb.GUARDIAN_TASK_STATUS_DONE}


def _time(value: Timestamp, present: bool) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if present else None


def _optional_time(value: datetime | None) -> Timestamp | None:
    return timestamp(value) if value is not None else None


def summary(definition: InstrumentDefinition) -> pb.InstrumentSummary:
    return pb.InstrumentSummary(
        instrument_id=definition.id,
        version=definition.version,
        title=definition.title.zh_cn,
        respondent=RESPONDENTS[definition.respondent.value],
        licence=definition.licence.kind,
        grade_bands=[band.value for band in definition.applicability.grade_bands],
    )


def ref(value: InstrumentRef) -> pb.InstrumentRef:
    return pb.InstrumentRef(instrument_id=value.instrument_id, version=value.version)


def campaign_message(c: Campaign) -> pb.Campaign:
    return pb.Campaign(
        campaign_id=str(c.campaign_id),
        name=c.name,
        kind=KINDS[c.kind],
        scope_code=c.scope_code,
        school_codes=list(c.school_codes),
        cohorts=list(c.cohorts),
        opens_at=timestamp(c.opens_at),
        closes_at=timestamp(c.closes_at),
        batteries=[
            pb.Battery(grade_band=b.grade_band.value, instruments=[ref(r) for r in b.instruments])
            for b in c.batteries
        ],
        consent_required_under_age=c.consent_required_under_age,
        status=STATUSES[c.status],
        created_at=timestamp(c.created_at),
    )


def sitting_message(s: Sitting, join_code: str = "") -> pb.Sitting:
    return pb.Sitting(
        sitting_id=str(s.sitting_id),
        campaign_id=str(s.campaign_id),
        class_code=s.class_code,
        school_code=s.school_code,
        join_code=join_code,
        expires_at=timestamp(s.expires_at),
    )


def result_summary(view: ResultView) -> pb.ResultSummary:
    r = view.result
    return pb.ResultSummary(
        submission_id=str(r.submission_id),
        student_id=str(r.student_id),
        campaign_id=str(r.campaign_id),
        school_code=r.school_code,
        class_code=r.class_code,
        instrument=ref(r.instrument),
        submitted_at=timestamp(r.submitted_at),
        suggested_level=level(view.suggested_level),
        confirmed_level=level(view.confirmed_level),
        needs_follow_up=view.needs_follow_up,
        critical=view.critical,
        valid=view.valid,
    )


def task_message(view: GuardianTaskView) -> pb.GuardianTask:
    t = view.task
    return pb.GuardianTask(
        task_id=str(t.task_id),
        student_id=str(t.student_id),
        submission_id=str(t.submission_id),
        school_code=t.school_code,
        level=level(t.level),
        status=TASK_STATUSES[t.status.value],
        due_at=timestamp(t.due_at),
        done_by=t.done_by,
        done_at=_optional_time(t.done_at),
        note=view.note,
    )


def level_of(value: int) -> RiskLevel | None:
    return LEVEL_OF.get(value)


class ScreeningServicer(screening_pb2_grpc.ScreeningServiceServicer):
    def __init__(
        self, shelf: InstrumentShelf, campaigns: Campaigns, sittings: Sittings, results: Results
    ) -> None:
        self._shelf = shelf
        self._campaigns = campaigns
        self._sittings = sittings
        self._results = results

    # instruments
    async def ListInstruments(
        self, request: pb.ListInstrumentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstrumentsResponse:
        current_principal()
        return pb.ListInstrumentsResponse(instruments=[summary(d) for d in self._shelf.list()])

    async def GetInstrument(
        self, request: pb.GetInstrumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstrumentResponse:
        current_principal()
        definition = await self._shelf.get(
            request.instrument.instrument_id, request.instrument.version
        )
        return pb.GetInstrumentResponse(
            summary=summary(definition),
            definition_json=json.dumps(
                definition.model_dump(mode="json", by_alias=True, exclude_none=True),
                ensure_ascii=False,
            ),
        )

    async def LoadInstrument(
        self, request: pb.LoadInstrumentRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoadInstrumentResponse:
        definition = await self._shelf.load(current_principal(), request.definition, request.policy)
        return pb.LoadInstrumentResponse(summary=summary(definition))

    # campaigns
    async def OpenCampaign(
        self, request: pb.OpenCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.OpenCampaignResponse:
        draft = CampaignDraft(
            name=request.name,
            kind=KIND_OF.get(request.kind),
            scope_code=request.scope_code,
            school_codes=tuple(request.school_codes),
            cohorts=tuple(request.cohorts),
            opens_at=_time(request.opens_at, request.HasField("opens_at")),
            closes_at=_time(request.closes_at, request.HasField("closes_at")),
            batteries=tuple(
                (
                    b.grade_band,
                    tuple(InstrumentRef(r.instrument_id, r.version) for r in b.instruments),
                )
                for b in request.batteries
            ),
            consent_required_under_age=(
                request.consent_required_under_age
                if request.HasField("consent_required_under_age")
                else None
            ),
        )
        campaign = await self._campaigns.open(current_principal(), draft)
        return pb.OpenCampaignResponse(campaign=campaign_message(campaign))

    async def CloseCampaign(
        self, request: pb.CloseCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.CloseCampaignResponse:
        campaign = await self._campaigns.close(current_principal(), request.campaign_id)
        return pb.CloseCampaignResponse(campaign=campaign_message(campaign))

    async def GetCampaign(
        self, request: pb.GetCampaignRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCampaignResponse:
        campaign = await self._campaigns.get(current_principal(), request.campaign_id)
        return pb.GetCampaignResponse(campaign=campaign_message(campaign))

    async def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCampaignsResponse:
        found = await self._campaigns.list(
            current_principal(), request.org_unit, request.include_closed
        )
        return pb.ListCampaignsResponse(campaigns=[campaign_message(c) for c in found])

    async def GetCoverage(
        self, request: pb.GetCoverageRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCoverageResponse:
        coverage = await self._campaigns.coverage(
            current_principal(), request.campaign_id, request.org_unit
        )

        def row(r: CoverageRow) -> pb.CoverageRow:
            return pb.CoverageRow(
                org_unit=r.org_unit, expected=r.expected, started=r.started, submitted=r.submitted
            )

        return pb.GetCoverageResponse(
            total=row(coverage.total),
            rows=[row(r) for r in coverage.rows],
            as_of=timestamp(coverage.as_of),
        )

    async def RecordConsent(
        self, request: pb.RecordConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordConsentResponse:
        consent_id = await self._campaigns.record_consent(
            current_principal(), request.campaign_id, request.student_id, request.granted
        )
        return pb.RecordConsentResponse(consent_id=str(consent_id))

    # sittings
    async def StartSitting(
        self, request: pb.StartSittingRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartSittingResponse:
        started = await self._sittings.start(
            current_principal(), request.campaign_id, request.class_code, request.minutes
        )
        return pb.StartSittingResponse(
            sitting=sitting_message(started.sitting, started.join_code),
            participants=[
                pb.Participant(
                    student_id=str(s.student_id),
                    full_name=s.full_name,
                    personal_code=s.personal_code,
                    consent_missing=s.consent_missing,
                )
                for s in started.slips
            ],
        )

    async def JoinSitting(
        self, request: pb.JoinSittingRequest, context: grpc.aio.ServicerContext
    ) -> pb.JoinSittingResponse:
        joined = await self._sittings.join(
            current_principal(), request.join_code, request.personal_code
        )
        return pb.JoinSittingResponse(
            sitting_token=joined.token,
            expires_at=timestamp(joined.expires_at),
            sitting=sitting_message(joined.sitting),
            battery=[
                pb.SavedAnswers(
                    instrument=ref(saved.instrument),
                    answers=dict(saved.answers),
                    submitted=saved.submitted,
                )
                for saved in joined.battery
            ],
        )

    async def SaveAnswers(
        self, request: pb.SaveAnswersRequest, context: grpc.aio.ServicerContext
    ) -> pb.SaveAnswersResponse:
        answered = await self._sittings.save(
            current_principal(),
            request.sitting_token,
            InstrumentRef(request.instrument.instrument_id, request.instrument.version),
            request.answers,
        )
        return pb.SaveAnswersResponse(answered=answered)

    async def SubmitAnswers(
        self, request: pb.SubmitAnswersRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitAnswersResponse:
        submitted = await self._sittings.submit(
            current_principal(),
            request.sitting_token,
            InstrumentRef(request.instrument.instrument_id, request.instrument.version),
            request.answers,
            request.submission_id,
        )
        return pb.SubmitAnswersResponse(
            submission_id=str(submitted.submission_id), duplicate=submitted.duplicate
        )

    # results
    async def ListResults(
        self, request: pb.ListResultsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListResultsResponse:
        page = await self._results.list(
            current_principal(),
            request.campaign_id,
            request.org_unit,
            level_of(request.at_least),
            request.page_size,
            request.page_token,
        )
        return pb.ListResultsResponse(
            results=[result_summary(v) for v in page.results],
            next_page_token=page.next_page_token,
        )

    async def GetResult(
        self, request: pb.GetResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetResultResponse:
        found = await self._results.get(current_principal(), request.submission_id)
        r, detail = found.result, found.detail
        view = ResultView(
            r,
            r.suggested_level,
            r.confirmed_level,
            self._results.needs_follow_up(r),
            r.critical,
            r.valid,
        )
        return pb.GetResultResponse(
            result=pb.Result(
                summary=result_summary(view),
                total=detail.total or 0.0,
                band=detail.band,
                scales=[
                    pb.ScaleScore(scale_id=s.scale_id, value=s.value or 0.0, band=s.band)
                    for s in detail.scales
                ],
                critical_items=[
                    pb.CriticalItem(
                        rule_id=c.rule_id, item_ids=list(c.item_ids), level=level(c.level)
                    )
                    for c in detail.critical
                ],
                invalid_reason=detail.invalid_reason,
                answers=dict(found.answers),
                confirmed_by=r.confirmed_by,
                confirmation_reason=found.confirmation_reason,
                confirmed_at=_optional_time(r.confirmed_at),
            )
        )

    async def ConfirmLevel(
        self, request: pb.ConfirmLevelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmLevelResponse:
        view = await self._results.confirm(
            current_principal(), request.submission_id, level_of(request.level), request.reason
        )
        return pb.ConfirmLevelResponse(summary=result_summary(view))

    async def ListRescreening(
        self, request: pb.ListRescreeningRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRescreeningResponse:
        found = await self._results.rescreening(
            current_principal(), request.school_code, request.page_size, request.page_token
        )
        return pb.ListRescreeningResponse(
            candidates=[
                pb.RescreeningCandidate(
                    student_id=str(c.student_id),
                    class_code=c.class_code,
                    level=level(c.level),
                    last_submission_id=str(c.last_submission_id),
                    last_screened_at=timestamp(c.last_screened_at),
                )
                for c in found.candidates
            ],
            next_page_token=found.next_page_token,
        )

    async def ListGuardianTasks(
        self, request: pb.ListGuardianTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGuardianTasksResponse:
        found = await self._results.tasks(
            current_principal(),
            request.school_code,
            request.include_done,
            request.page_size,
            request.page_token,
        )
        return pb.ListGuardianTasksResponse(
            tasks=[task_message(t) for t in found.tasks], next_page_token=found.next_page_token
        )

    async def CompleteGuardianTask(
        self, request: pb.CompleteGuardianTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteGuardianTaskResponse:
        task = await self._results.complete_task(current_principal(), request.task_id, request.note)
        return pb.CompleteGuardianTaskResponse(task=task_message(task))
