"""What the screening use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from screening.domain.instruments import RiskLevel
from screening.domain.model import (
    Campaign,
    Consent,
    DomainEvent,
    Draft,
    EnrolmentCounts,
    GuardianTask,
    Me,
    Participant,
    RescreeningCandidate,
    RescreeningPosition,
    Result,
    ResultFlagged,
    ResultRecorded,
    SchoolType,
    Sitting,
    SittingSeat,
    StoredInstrument,
    StudentEntry,
    StudentPlace,
)
from xinyu_core.auth import Principal

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class LevelFilter:
    """Which results a view may show, by level (R1: only what the caller may see is listed).

    ``either``: the suggested or the confirmed level is one of ``levels``; ``confirmed``: the
    confirmed level is; ``follow_up``: the result is critical, or its confirmed level (else its
    suggested one) is one of ``levels``."""

    kind: Literal["either", "confirmed", "follow_up"]
    levels: frozenset[RiskLevel]


class ScreeningRepository(Protocol):
    """One transaction's view of screening's tables."""

    # instruments an operator loaded
    async def stored_instruments(self) -> Sequence[StoredInstrument]: ...

    async def add_instrument(self, instrument: StoredInstrument) -> None: ...

    # campaigns (tens a year: read whole)
    async def campaigns(self) -> Sequence[Campaign]: ...

    async def campaign(self, campaign_id: UUID) -> Campaign | None: ...

    async def save_campaign(self, campaign: Campaign) -> None: ...

    # consent
    async def add_consent(self, consent: Consent) -> None: ...

    async def consented(self, campaign_id: UUID, student_ids: Sequence[UUID]) -> set[UUID]:
        """Students whose latest consent record for the campaign grants it."""
        ...

    # sittings
    async def join_code_taken(self, join_code_hash: str) -> bool: ...

    async def add_sitting(self, sitting: Sitting, participants: Sequence[Participant]) -> None: ...

    async def sitting_by_join_code(self, join_code_hash: str) -> Sitting | None: ...

    async def participant_by_code(self, sitting_id: UUID, code_hash: str) -> Participant | None: ...

    async def count_wrong_code(self, sitting_id: UUID) -> int:
        """Adds one wrong personal code to the sitting; returns its count so far."""
        ...

    async def mark_joined(self, sitting_id: UUID, student_id: UUID, at: datetime) -> None: ...

    async def seat(self, sitting_id: UUID, student_id: UUID) -> SittingSeat | None:
        """The participant, its sitting's expiry and whether its campaign runs: one lookup."""
        ...

    # answers
    async def drafts(self, campaign_id: UUID, student_id: UUID) -> Sequence[Draft]: ...

    async def draft(
        self, campaign_id: UUID, student_id: UUID, instrument_id: str
    ) -> Draft | None: ...

    async def save_draft(self, draft: Draft) -> None: ...

    async def result(self, submission_id: UUID) -> Result | None: ...

    async def result_for(
        self, campaign_id: UUID, student_id: UUID, instrument_id: str
    ) -> Result | None: ...

    async def submitted_instruments(self, campaign_id: UUID, student_id: UUID) -> set[str]: ...

    async def results(
        self,
        *,
        campaign_id: UUID | None,
        unit_column: str,
        unit: str,
        class_codes: Sequence[str] | None,
        confirmed_only: bool,
        after: tuple[datetime, UUID] | None,
        limit: int,
        levels: LevelFilter | None = None,
    ) -> Sequence[Result]:
        """Results whose ``unit_column`` (county_code, school_code or class_code) is ``unit``,
        in (submitted_at, submission_id) order, after the given position, and only those
        ``levels`` lets through (so a page of a narrow view is filled by the database)."""
        ...

    async def rescreening(
        self,
        school_code: str,
        high: RiskLevel,
        after: RescreeningPosition | None,
        limit: int,
    ) -> Sequence[RescreeningCandidate]:
        """The school's students whose latest confirmed level is at least ``high``, or who
        were flagged (a critical result) after their latest confirmation: the higher of the
        two levels (a flag without a suggestion counts as red), with their latest result; in
        (class_code, level highest first, student_id) order, after ``after``; at most
        ``limit``. Selected in the database: a school holds tens of thousands of results."""
        ...

    async def confirm(
        self,
        submission_id: UUID,
        level: RiskLevel,
        by: str,
        at: datetime,
        reason_cipher: bytes,
    ) -> None: ...

    # guardian-informing tasks
    async def open_task(self, task: GuardianTask) -> None:
        """Opens the task unless the submission has one; a higher level raises its level."""
        ...

    async def tasks(
        self,
        school_code: str,
        include_done: bool,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> Sequence[GuardianTask]:
        """The school's tasks (open ones only unless ``include_done``) in (due_at, task_id)
        order, after ``after``; at most ``limit``."""
        ...

    async def task(self, task_id: UUID) -> GuardianTask | None: ...

    async def complete_task(
        self, task_id: UUID, by: str, at: datetime, note_cipher: bytes
    ) -> None: ...

    # coverage
    async def coverage(
        self, campaign_id: UUID, group_column: str, unit_column: str, unit: str
    ) -> dict[str, tuple[int, int]]:
        """Per ``group_column`` value under ``unit``: (students started, students who
        submitted their whole battery)."""
        ...

    # events and audit, in this transaction
    async def publish(self, event: DomainEvent) -> None: ...

    async def audit_sensitive_read(
        self, principal: Principal, action: str, resource_type: str, resource_id: str
    ) -> None:
        """Records an allowed read of a sensitive section in this transaction; raises when it
        cannot, so the read fails with it."""
        ...


class AnswerRepository(Protocol):
    """The part of the repository that SubmitAnswers uses (its hot path may be leaner)."""

    async def seat(self, sitting_id: UUID, student_id: UUID) -> SittingSeat | None: ...

    async def result(self, submission_id: UUID) -> Result | None: ...

    async def add_result(
        self,
        result: Result,
        recorded: ResultRecorded,
        flagged: ResultFlagged | None = None,
        task: GuardianTask | None = None,
    ) -> bool:
        """Stores the result with its events (``recorded``, and ``flagged`` when a critical
        rule fired) and the flag's guardian ``task``, all or nothing, unless its submission id,
        or a result of the same campaign, student and instrument, exists already; True when
        stored now. The student's saved draft of the instrument is discarded either way."""
        ...


class AnswerStore(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[AnswerRepository]: ...


class Store(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[ScreeningRepository]: ...


class Identity(Protocol):
    """identity's answers, asked with the caller's own token (identity checks again)."""

    async def who_am_i(self, principal: Principal) -> Me: ...

    async def class_students(self, principal: Principal, class_code: str) -> list[StudentEntry]: ...

    async def school_type(self, principal: Principal, school_code: str) -> SchoolType: ...

    async def student_place(self, principal: Principal, student_id: str) -> StudentPlace: ...

    async def count_students(
        self,
        principal: Principal,
        org_unit: str,
        cohorts: Sequence[int],
        school_codes: Sequence[str],
    ) -> EnrolmentCounts: ...
