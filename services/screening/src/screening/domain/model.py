"""Campaigns, sittings, answers, results and guardian tasks. Pure domain: no transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from screening.domain.instruments import RiskLevel
from screening.domain.instruments.model import GradeBand

CITY_CODE = "360700"
DEFAULT_CONSENT_AGE = 14


class CampaignKind(StrEnum):
    ANNUAL = "annual"
    RESCREENING = "rescreening"


class CampaignStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class InstrumentRef:
    instrument_id: str
    version: str


@dataclass(frozen=True)
class Battery:
    grade_band: GradeBand
    instruments: tuple[InstrumentRef, ...]


@dataclass(frozen=True)
class Campaign:
    campaign_id: UUID
    name: str
    kind: CampaignKind
    scope_code: str
    school_codes: tuple[str, ...]
    cohorts: tuple[int, ...]
    opens_at: datetime
    closes_at: datetime
    batteries: tuple[Battery, ...]
    consent_required_under_age: int
    status: CampaignStatus
    created_by: str
    created_at: datetime

    def covers_school(self, school_code: str) -> bool:
        in_scope = self.scope_code == CITY_CODE or school_code.startswith(self.scope_code)
        return in_scope and (not self.school_codes or school_code in self.school_codes)

    def takes_cohort(self, cohort: int) -> bool:
        return not self.cohorts or cohort in self.cohorts

    def battery_for(self, band: GradeBand) -> Battery | None:
        return next((b for b in self.batteries if b.grade_band == band), None)

    def is_running(self, now: datetime) -> bool:
        return self.status is CampaignStatus.OPEN and self.opens_at <= now < self.closes_at


@dataclass(frozen=True)
class Consent:
    consent_id: UUID
    campaign_id: UUID
    student_id: UUID
    granted: bool
    # "guardian" (the guardian themselves) or "school" (a paper form the school recorded).
    via: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Sitting:
    sitting_id: UUID
    campaign_id: UUID
    class_code: str
    school_code: str
    county_code: str
    join_code_hash: str
    expires_at: datetime
    started_by: str
    created_at: datetime
    participants: int
    wrong_codes: int = 0


@dataclass(frozen=True)
class Participant:
    """A student captured when the sitting started. The personal code is kept only as its
    keyed hash; a student without consent has none and cannot join."""

    sitting_id: UUID
    student_id: UUID
    campaign_id: UUID
    school_code: str
    county_code: str
    class_code: str
    cohort: int
    grade_band: GradeBand
    battery: tuple[InstrumentRef, ...]
    code_hash: str | None
    consent_missing: bool
    joined_at: datetime | None = None


@dataclass(frozen=True)
class SittingSeat:
    """What answering needs, read in one lookup by the participant's key."""

    participant: Participant
    expires_at: datetime
    campaign_running: bool


@dataclass(frozen=True)
class SlipEntry:
    """One line of the teacher's slips: returned once, never stored in clear."""

    student_id: UUID
    full_name: str
    personal_code: str
    consent_missing: bool


@dataclass(frozen=True)
class StartedSitting:
    sitting: Sitting
    join_code: str
    slips: tuple[SlipEntry, ...]


@dataclass(frozen=True)
class Draft:
    campaign_id: UUID
    student_id: UUID
    instrument: InstrumentRef
    answers_cipher: bytes
    updated_at: datetime


@dataclass(frozen=True)
class SavedInstrument:
    instrument: InstrumentRef
    answers: Mapping[str, int]
    submitted: bool


@dataclass(frozen=True)
class JoinedSitting:
    token: str
    expires_at: datetime
    sitting: Sitting
    battery: tuple[SavedInstrument, ...]


@dataclass(frozen=True)
class CriticalHit:
    rule_id: str
    item_ids: tuple[str, ...]
    level: RiskLevel | None


@dataclass(frozen=True)
class ScaleScore:
    scale_id: str
    value: float | None
    band: str


@dataclass(frozen=True)
class ResultDetail:
    """The scored result's detail, kept encrypted with the answers."""

    total: float | None
    band: str
    scales: tuple[ScaleScore, ...]
    critical: tuple[CriticalHit, ...]
    invalid_reason: str


@dataclass(frozen=True)
class Result:
    submission_id: UUID
    campaign_id: UUID
    student_id: UUID
    sitting_id: UUID
    school_code: str
    county_code: str
    class_code: str
    instrument: InstrumentRef
    policy_version: str
    submitted_at: datetime
    suggested_level: RiskLevel | None
    critical: bool
    valid: bool
    answers_cipher: bytes
    detail_cipher: bytes
    confirmed_level: RiskLevel | None = None
    confirmed_by: str = ""
    confirmed_at: datetime | None = None
    confirmation_reason_cipher: bytes | None = None


@dataclass(frozen=True)
class ResultView:
    """A result as one caller may see it (ListResults)."""

    result: Result
    suggested_level: RiskLevel | None
    confirmed_level: RiskLevel | None
    needs_follow_up: bool
    critical: bool
    valid: bool


@dataclass(frozen=True)
class ResultWithAnswers:
    result: Result
    answers: Mapping[str, int]
    detail: ResultDetail
    confirmation_reason: str


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True)
class GuardianTask:
    task_id: UUID
    student_id: UUID
    submission_id: UUID
    school_code: str
    county_code: str
    class_code: str
    level: RiskLevel
    # "flagged" (a critical answer) or "confirmed" (a confirmed high level).
    cause: str
    status: TaskStatus
    due_at: datetime
    created_at: datetime
    done_by: str = ""
    done_at: datetime | None = None
    note_cipher: bytes | None = None


def guardian_task(
    task_id: UUID, result: Result, level: RiskLevel, cause: str, now: datetime, days: int
) -> GuardianTask:
    """The task of informing the guardian of a result's student, due in ``days``."""
    return GuardianTask(
        task_id=task_id,
        student_id=result.student_id,
        submission_id=result.submission_id,
        school_code=result.school_code,
        county_code=result.county_code,
        class_code=result.class_code,
        level=level,
        cause=cause,
        status=TaskStatus.OPEN,
        due_at=now + timedelta(days=days),
        created_at=now,
    )


@dataclass(frozen=True)
class GuardianTaskView:
    task: GuardianTask
    note: str


@dataclass(frozen=True)
class RescreeningCandidate:
    student_id: UUID
    class_code: str
    level: RiskLevel
    last_submission_id: UUID
    last_screened_at: datetime


@dataclass(frozen=True)
class RescreeningPosition:
    """Where a page of the re-screening list ends: it is in (class_code, highest level first,
    student_id) order."""

    class_code: str
    rank: int
    student_id: UUID


@dataclass(frozen=True)
class CoverageRow:
    org_unit: str
    expected: int
    started: int
    submitted: int


@dataclass(frozen=True)
class Coverage:
    total: CoverageRow
    rows: tuple[CoverageRow, ...]
    as_of: datetime


@dataclass(frozen=True)
class StoredInstrument:
    """A definition an operator loaded, as text, with the levels its bands suggest."""

    instrument_id: str
    version: str
    definition: str
    policy: str
    loaded_by: str
    loaded_at: datetime


# --- what identity tells screening ---------------------------------------------------------


class RelationshipKind(StrEnum):
    GUARDIAN_OF = "guardian_of"
    HEAD_TEACHER_OF = "head_teacher_of"
    SUBJECT_TEACHER_OF = "subject_teacher_of"
    MENTOR_OF = "mentor_of"
    PSYCH_TEACHER_OF = "psych_teacher_of"


@dataclass(frozen=True)
class Relationship:
    kind: RelationshipKind
    student_id: str = ""
    class_code: str = ""
    school_code: str = ""


@dataclass(frozen=True)
class Me:
    relationships: tuple[Relationship, ...] = ()

    def head_teacher_classes(self) -> frozenset[str]:
        return frozenset(
            r.class_code for r in self.relationships if r.kind is RelationshipKind.HEAD_TEACHER_OF
        )

    def is_head_teacher_of(self, class_code: str) -> bool:
        return class_code in self.head_teacher_classes()

    def is_psych_teacher_of(self, school_code: str) -> bool:
        return any(
            r.kind is RelationshipKind.PSYCH_TEACHER_OF and r.school_code == school_code
            for r in self.relationships
        )

    def is_guardian_of(self, student_id: str) -> bool:
        return any(
            r.kind is RelationshipKind.GUARDIAN_OF and r.student_id == student_id
            for r in self.relationships
        )


@dataclass(frozen=True)
class StudentEntry:
    student_id: UUID
    full_name: str
    school_code: str
    county_code: str
    class_code: str
    cohort: int
    birth_date: date | None


@dataclass(frozen=True)
class StudentPlace:
    student_id: UUID
    school_code: str
    county_code: str


@dataclass(frozen=True)
class EnrolmentCounts:
    total: int
    children: Mapping[str, int] = field(default_factory=dict)


class SchoolType(StrEnum):
    PRIMARY = "primary"
    JUNIOR = "junior"
    SENIOR = "senior"
    NINE_YEAR = "nine_year"
    TWELVE_YEAR = "twelve_year"
    VOCATIONAL = "vocational"


# --- facts that become events ----------------------------------------------------------------


@dataclass(frozen=True)
class CampaignChanged:
    campaign: Campaign


@dataclass(frozen=True)
class ResultRecorded:
    result: Result


@dataclass(frozen=True)
class ResultFlagged:
    result: Result
    rule_ids: tuple[str, ...]
    level: RiskLevel | None


@dataclass(frozen=True)
class LevelConfirmed:
    result: Result


DomainEvent = CampaignChanged | ResultRecorded | ResultFlagged | LevelConfirmed
