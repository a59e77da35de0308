"""Screening's facts as protobuf events for the outbox. Keys: the student id (the campaign id
for campaign events). No names, no answers, no scores: ids, codes, levels and flags only."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from screening.domain.instruments import RiskLevel
from screening.domain.model import (
    CampaignKind,
    CampaignStatus,
    DomainEvent,
    LevelConfirmed,
    Result,
    ResultFlagged,
    ResultRecorded,
)
from xinyu.events.v1 import screening_pb2 as events
from xinyu.screening.v1 import screening_pb2 as api
from xinyu_core.messaging import stamp

SERVICE = "screening"
RESULT_RECORDED = "screening.result.recorded.v1"
RESULT_FLAGGED = "screening.result.flagged.v1"
LEVEL_CONFIRMED = "screening.level.confirmed.v1"
CAMPAIGN_OPENED = "screening.campaign.opened.v1"
CAMPAIGN_CLOSED = "screening.campaign.closed.v1"
TOPICS = (RESULT_RECORDED, RESULT_FLAGGED, LEVEL_CONFIRMED, CAMPAIGN_OPENED, CAMPAIGN_CLOSED)

LEVELS = {
    RiskLevel.GREEN: api.RISK_LEVEL_GREEN,
    RiskLevel.YELLOW: api.RISK_LEVEL_YELLOW,
    RiskLevel.ORANGE: api.RISK_LEVEL_ORANGE,
    RiskLevel.RED: api.RISK_LEVEL_RED,
}
KINDS = {
    CampaignKind.ANNUAL: api.CAMPAIGN_KIND_ANNUAL,
    CampaignKind.RESCREENING: api.CAMPAIGN_KIND_RESCREENING,
}
STATUSES = {
    CampaignStatus.OPEN: api.CAMPAIGN_STATUS_OPEN,
    CampaignStatus.CLOSED: api.CAMPAIGN_STATUS_CLOSED,
}


def level(value: RiskLevel | None) -> api.RiskLevel.ValueType:
    return LEVELS[value] if value is not None else api.RISK_LEVEL_UNSPECIFIED


def timestamp(value: datetime) -> Timestamp:
    stamp_ = Timestamp()
    stamp_.FromDatetime(value)
    return stamp_


def _where(result: Result) -> dict[str, object]:
    return {
        "submission_id": str(result.submission_id),
        "student_id": str(result.student_id),
        "campaign_id": str(result.campaign_id),
        "school_code": result.school_code,
        "county_code": result.county_code,
        "class_code": result.class_code,
    }


def event_of(fact: DomainEvent) -> tuple[str, Message]:
    """The topic and the stamped event of a domain fact."""
    message: Message
    if isinstance(fact, ResultRecorded):
        r = fact.result
        message = events.ResultRecorded(
            **_where(r),  # type: ignore[arg-type]
            instrument=api.InstrumentRef(
                instrument_id=r.instrument.instrument_id, version=r.instrument.version
            ),
            suggested_level=level(r.suggested_level),
            critical=r.critical,
            valid=r.valid,
            submitted_at=timestamp(r.submitted_at),
        )
        stamp(message, SERVICE, str(r.student_id), occurred_at=r.submitted_at)
        return RESULT_RECORDED, message
    if isinstance(fact, ResultFlagged):
        r = fact.result
        message = events.ResultFlagged(
            **_where(r),  # type: ignore[arg-type]
            instrument=api.InstrumentRef(
                instrument_id=r.instrument.instrument_id, version=r.instrument.version
            ),
            critical_rule_ids=list(fact.rule_ids),
            level=level(fact.level),
            flagged_at=timestamp(r.submitted_at),
        )
        stamp(message, SERVICE, str(r.student_id), occurred_at=r.submitted_at)
        return RESULT_FLAGGED, message
    if isinstance(fact, LevelConfirmed):
        r = fact.result
        assert r.confirmed_at is not None
        message = events.LevelConfirmed(
            **_where(r),  # type: ignore[arg-type]
            suggested_level=level(r.suggested_level),
            confirmed_level=level(r.confirmed_level),
            confirmed_at=timestamp(r.confirmed_at),
        )
        stamp(message, SERVICE, str(r.student_id), occurred_at=r.confirmed_at)
        return LEVEL_CONFIRMED, message
    c = fact.campaign
    message = events.CampaignChanged(
        campaign_id=str(c.campaign_id),
        kind=KINDS[c.kind],
        scope_code=c.scope_code,
        opens_at=timestamp(c.opens_at),
        closes_at=timestamp(c.closes_at),
        status=STATUSES[c.status],
    )
    stamp(message, SERVICE, str(c.campaign_id))
    return (CAMPAIGN_OPENED if c.status is CampaignStatus.OPEN else CAMPAIGN_CLOSED), message
