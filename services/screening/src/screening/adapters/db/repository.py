"""PostgreSQL adapter of screening's repository port: one transaction per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, case, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screening.adapters.db.tables import (
    campaigns,
    consents,
    drafts,
    guardian_tasks,
    instruments,
    participants,
    results,
    sittings,
)
from screening.adapters.messaging.events import event_of
from screening.domain.instruments import RiskLevel
from screening.domain.instruments.model import GradeBand
from screening.domain.model import (
    Battery,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Consent,
    DomainEvent,
    Draft,
    GuardianTask,
    InstrumentRef,
    Participant,
    RescreeningCandidate,
    RescreeningPosition,
    Result,
    Sitting,
    SittingSeat,
    StoredInstrument,
    TaskStatus,
)
from screening.domain.ports import LevelFilter
from xinyu_core.audit import AuditRecorder
from xinyu_core.auth import Principal
from xinyu_core.messaging import OutboxWriter


def _refs(value: Any) -> tuple[InstrumentRef, ...]:
    return tuple(InstrumentRef(str(i), str(v)) for i, v in value)


def _level(value: str | None) -> RiskLevel | None:
    return RiskLevel(value) if value else None


def _campaign(row: Any) -> Campaign:
    return Campaign(
        campaign_id=row.campaign_id,
        name=row.name,
        kind=CampaignKind(row.kind),
        scope_code=row.scope_code,
        school_codes=tuple(row.school_codes),
        cohorts=tuple(row.cohorts),
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        batteries=tuple(
            Battery(GradeBand(b["grade_band"]), _refs(b["instruments"])) for b in row.batteries
        ),
        consent_required_under_age=row.consent_required_under_age,
        status=CampaignStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _sitting(row: Any) -> Sitting:
    return Sitting(
        sitting_id=row.sitting_id,
        campaign_id=row.campaign_id,
        class_code=row.class_code,
        school_code=row.school_code,
        county_code=row.county_code,
        join_code_hash=row.join_code_hash,
        expires_at=row.expires_at,
        started_by=row.started_by,
        created_at=row.created_at,
        participants=row.participants,
        wrong_codes=row.wrong_codes,
    )


def _participant(row: Any) -> Participant:
    return Participant(
        sitting_id=row.sitting_id,
        student_id=row.student_id,
        campaign_id=row.campaign_id,
        school_code=row.school_code,
        county_code=row.county_code,
        class_code=row.class_code,
        cohort=row.cohort,
        grade_band=GradeBand(row.grade_band),
        battery=_refs(row.battery),
        code_hash=row.code_hash,
        consent_missing=row.consent_missing,
        joined_at=row.joined_at,
    )


def _result(row: Any) -> Result:
    return Result(
        submission_id=row.submission_id,
        campaign_id=row.campaign_id,
        student_id=row.student_id,
        sitting_id=row.sitting_id,
        school_code=row.school_code,
        county_code=row.county_code,
        class_code=row.class_code,
        instrument=InstrumentRef(row.instrument_id, row.version),
        policy_version=row.policy_version,
        submitted_at=row.submitted_at,
        suggested_level=_level(row.suggested_level),
        critical=row.critical,
        valid=row.valid,
        answers_cipher=row.answers_cipher,
        detail_cipher=row.detail_cipher,
        confirmed_level=_level(row.confirmed_level),
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        confirmation_reason_cipher=row.confirmation_reason_cipher,
    )


def _task(row: Any) -> GuardianTask:
    return GuardianTask(
        task_id=row.task_id,
        student_id=row.student_id,
        submission_id=row.submission_id,
        school_code=row.school_code,
        county_code=row.county_code,
        class_code=row.class_code,
        level=RiskLevel(row.level),
        cause=row.cause,
        status=TaskStatus(row.status),
        due_at=row.due_at,
        created_at=row.created_at,
        done_by=row.done_by,
        done_at=row.done_at,
        note_cipher=row.note_cipher,
    )


_LEVEL_RANK = case(
    {"green": 0, "yellow": 1, "orange": 2, "red": 3}, value=guardian_tasks.c.level, else_=-1
)
_RANKED = dict(enumerate(RiskLevel))
# The re-screening list of a school, in SQL: per student the latest confirmation (kept when at
# or above the threshold) and the latest flag since it (a flag counts until a person looked;
# its level is the suggestion, red without one), the higher of the two; then the student's
# latest result for the class and the date. Each part reads an index of its own
# (ix_results_school_student_*); only the candidates' latest results are looked up.
_RESCREENING = text(
    """
WITH confirmed AS (
    SELECT DISTINCT ON (student_id) student_id, confirmed_level, confirmed_at
    FROM results
    WHERE school_code = :school AND confirmed_at IS NOT NULL
    ORDER BY student_id, confirmed_at DESC
), flagged AS (
    SELECT DISTINCT ON (r.student_id)
        r.student_id,
        CASE COALESCE(r.suggested_level, 'red')
            WHEN 'green' THEN 0 WHEN 'yellow' THEN 1 WHEN 'orange' THEN 2 WHEN 'red' THEN 3
        END AS rank
    FROM results r
    LEFT JOIN confirmed c ON c.student_id = r.student_id
    WHERE r.school_code = :school AND r.critical
        AND (c.confirmed_at IS NULL OR r.submitted_at > c.confirmed_at)
    ORDER BY r.student_id, r.submitted_at DESC
), candidates AS (
    SELECT student_id, max(rank) AS rank
    FROM (
        SELECT student_id, rank
        FROM (
            SELECT student_id, CASE confirmed_level
                WHEN 'green' THEN 0 WHEN 'yellow' THEN 1 WHEN 'orange' THEN 2 WHEN 'red' THEN 3
            END AS rank
            FROM confirmed
        ) AS ranked
        WHERE rank >= :high
        UNION ALL
        SELECT student_id, rank FROM flagged
    ) AS levels
    GROUP BY student_id
)
SELECT c.student_id, c.rank, l.class_code, l.submission_id, l.submitted_at
FROM candidates c
CROSS JOIN LATERAL (
    SELECT class_code, submission_id, submitted_at
    FROM results
    WHERE school_code = :school AND student_id = c.student_id
    ORDER BY submitted_at DESC, submission_id DESC
    LIMIT 1
) AS l
WHERE CAST(:after_class AS text) IS NULL
    OR (l.class_code, -c.rank, c.student_id)
        > (CAST(:after_class AS text), CAST(:after_rank AS integer), CAST(:after_student AS uuid))
ORDER BY l.class_code, -c.rank, c.student_id
LIMIT :limit
"""
)
# SaveAnswers' read of the participant, its sitting and campaign: one join by primary key.
_SEAT = (
    select(
        participants,
        sittings.c.expires_at.label("sitting_expires_at"),
        campaigns.c.status.label("campaign_status"),
        campaigns.c.opens_at.label("campaign_opens_at"),
        campaigns.c.closes_at.label("campaign_closes_at"),
    )
    .join(sittings, sittings.c.sitting_id == participants.c.sitting_id)
    .join(campaigns, campaigns.c.campaign_id == participants.c.campaign_id)
    .where(
        participants.c.sitting_id == bindparam("sitting_id"),
        participants.c.student_id == bindparam("student_id"),
    )
)
RESULT_COLUMNS = [
    c.name
    for c in results.columns
    if c.name
    not in ("confirmed_level", "confirmed_by", "confirmed_at", "confirmation_reason_cipher")
]


class SqlScreening:
    def __init__(
        self,
        session: AsyncSession,
        writer: OutboxWriter,
        audit: AuditRecorder | None,
        now: datetime | None = None,
    ) -> None:
        self._session = session
        self._writer = writer
        self._audit = audit

    async def _rows(self, statement: Any) -> Sequence[Any]:
        return (await self._session.execute(statement)).all()

    async def _first(self, statement: Any) -> Any:
        return (await self._session.execute(statement)).first()

    # instruments
    async def stored_instruments(self) -> Sequence[StoredInstrument]:
        rows = await self._rows(select(instruments).order_by(instruments.c.loaded_at))
        return [
            StoredInstrument(
                r.instrument_id, r.version, r.definition, r.policy, r.loaded_by, r.loaded_at
            )
            for r in rows
        ]

    async def add_instrument(self, instrument: StoredInstrument) -> None:
        await self._session.execute(instruments.insert().values(**instrument.__dict__))

    # campaigns
    async def campaigns(self) -> Sequence[Campaign]:
        rows = await self._rows(select(campaigns).order_by(campaigns.c.opens_at.desc()))
        return [_campaign(r) for r in rows]

    async def campaign(self, campaign_id: UUID) -> Campaign | None:
        row = await self._first(select(campaigns).where(campaigns.c.campaign_id == campaign_id))
        return _campaign(row) if row is not None else None

    async def save_campaign(self, campaign: Campaign) -> None:
        values = {
            "campaign_id": campaign.campaign_id,
            "name": campaign.name,
            "kind": campaign.kind.value,
            "scope_code": campaign.scope_code,
            "school_codes": list(campaign.school_codes),
            "cohorts": list(campaign.cohorts),
            "opens_at": campaign.opens_at,
            "closes_at": campaign.closes_at,
            "batteries": [
                {
                    "grade_band": b.grade_band.value,
                    "instruments": [[r.instrument_id, r.version] for r in b.instruments],
                }
                for b in campaign.batteries
            ],
            "consent_required_under_age": campaign.consent_required_under_age,
            "status": campaign.status.value,
            "created_by": campaign.created_by,
            "created_at": campaign.created_at,
        }
        statement = pg_insert(campaigns).values(**values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[campaigns.c.campaign_id],
                set_={"status": statement.excluded.status, "name": statement.excluded.name},
            )
        )

    # consent
    async def add_consent(self, consent: Consent) -> None:
        await self._session.execute(consents.insert().values(**consent.__dict__))

    async def consented(self, campaign_id: UUID, student_ids: Sequence[UUID]) -> set[UUID]:
        if not student_ids:
            return set()
        latest = (
            select(consents.c.student_id, consents.c.granted)
            .where(consents.c.campaign_id == campaign_id)
            .where(consents.c.student_id.in_(list(student_ids)))
            .ext(distinct_on(consents.c.student_id))
            .order_by(consents.c.student_id, consents.c.recorded_at.desc())
        )
        return {r.student_id for r in await self._rows(latest) if r.granted}

    # sittings
    async def join_code_taken(self, join_code_hash: str) -> bool:
        row = await self._first(
            select(sittings.c.sitting_id).where(sittings.c.join_code_hash == join_code_hash)
        )
        return row is not None

    async def add_sitting(self, sitting: Sitting, people: Sequence[Participant]) -> None:
        await self._session.execute(sittings.insert().values(**sitting.__dict__))
        if people:
            await self._session.execute(
                participants.insert(),
                [
                    {
                        **p.__dict__,
                        "grade_band": p.grade_band.value,
                        "battery": [[r.instrument_id, r.version] for r in p.battery],
                    }
                    for p in people
                ],
            )

    async def sitting_by_join_code(self, join_code_hash: str) -> Sitting | None:
        row = await self._first(select(sittings).where(sittings.c.join_code_hash == join_code_hash))
        return _sitting(row) if row is not None else None

    async def participant_by_code(self, sitting_id: UUID, code_hash: str) -> Participant | None:
        row = await self._first(
            select(participants).where(
                participants.c.sitting_id == sitting_id, participants.c.code_hash == code_hash
            )
        )
        return _participant(row) if row is not None else None

    async def count_wrong_code(self, sitting_id: UUID) -> int:
        row = await self._first(
            update(sittings)
            .where(sittings.c.sitting_id == sitting_id)
            .values(wrong_codes=sittings.c.wrong_codes + 1)
            .returning(sittings.c.wrong_codes)
        )
        return int(row.wrong_codes)

    async def mark_joined(self, sitting_id: UUID, student_id: UUID, at: datetime) -> None:
        await self._session.execute(
            update(participants)
            .where(participants.c.sitting_id == sitting_id)
            .where(participants.c.student_id == student_id)
            .where(participants.c.joined_at.is_(None))
            .values(joined_at=at)
        )

    async def seat(self, sitting_id: UUID, student_id: UUID) -> SittingSeat | None:
        row = (
            await self._session.execute(_SEAT, {"sitting_id": sitting_id, "student_id": student_id})
        ).first()
        if row is None:
            return None
        running = row.campaign_status == CampaignStatus.OPEN.value
        return SittingSeat(
            participant=_participant(row),
            expires_at=min(row.sitting_expires_at, row.campaign_closes_at),
            campaign_running=running,
        )

    # answers
    async def drafts(self, campaign_id: UUID, student_id: UUID) -> Sequence[Draft]:
        rows = await self._rows(
            select(drafts).where(
                drafts.c.campaign_id == campaign_id, drafts.c.student_id == student_id
            )
        )
        return [
            Draft(
                r.campaign_id,
                r.student_id,
                InstrumentRef(r.instrument_id, r.version),
                r.answers_cipher,
                r.updated_at,
            )
            for r in rows
        ]

    async def draft(self, campaign_id: UUID, student_id: UUID, instrument_id: str) -> Draft | None:
        for found in await self.drafts(campaign_id, student_id):
            if found.instrument.instrument_id == instrument_id:
                return found
        return None

    async def save_draft(self, draft: Draft) -> None:
        statement = pg_insert(drafts).values(
            campaign_id=draft.campaign_id,
            student_id=draft.student_id,
            instrument_id=draft.instrument.instrument_id,
            version=draft.instrument.version,
            answers_cipher=draft.answers_cipher,
            updated_at=draft.updated_at,
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[drafts.c.campaign_id, drafts.c.student_id, drafts.c.instrument_id],
                set_={
                    "version": statement.excluded.version,
                    "answers_cipher": statement.excluded.answers_cipher,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )

    async def result(self, submission_id: UUID) -> Result | None:
        row = await self._first(select(results).where(results.c.submission_id == submission_id))
        return _result(row) if row is not None else None

    async def result_for(
        self, campaign_id: UUID, student_id: UUID, instrument_id: str
    ) -> Result | None:
        row = await self._first(
            select(results).where(
                results.c.campaign_id == campaign_id,
                results.c.student_id == student_id,
                results.c.instrument_id == instrument_id,
            )
        )
        return _result(row) if row is not None else None

    async def submitted_instruments(self, campaign_id: UUID, student_id: UUID) -> set[str]:
        rows = await self._rows(
            select(results.c.instrument_id).where(
                results.c.campaign_id == campaign_id, results.c.student_id == student_id
            )
        )
        return {r.instrument_id for r in rows}

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
        statement = select(results).where(results.c[unit_column] == unit)
        if levels is not None:
            accepted = sorted(level.value for level in levels.levels)
            if levels.kind == "either":
                statement = statement.where(
                    or_(
                        results.c.suggested_level.in_(accepted),
                        results.c.confirmed_level.in_(accepted),
                    )
                )
            elif levels.kind == "confirmed":
                statement = statement.where(results.c.confirmed_level.in_(accepted))
            else:
                statement = statement.where(
                    or_(
                        results.c.critical,
                        func.coalesce(results.c.confirmed_level, results.c.suggested_level).in_(
                            accepted
                        ),
                    )
                )
        if campaign_id is not None:
            statement = statement.where(results.c.campaign_id == campaign_id)
        if class_codes is not None:
            statement = statement.where(results.c.class_code.in_(list(class_codes)))
        if confirmed_only:
            statement = statement.where(results.c.confirmed_level.is_not(None))
        if after is not None:
            statement = statement.where(
                tuple_(results.c.submitted_at, results.c.submission_id) > tuple_(*after)
            )
        statement = statement.order_by(results.c.submitted_at, results.c.submission_id).limit(limit)
        return [_result(r) for r in await self._rows(statement)]

    async def rescreening(
        self,
        school_code: str,
        high: RiskLevel,
        after: RescreeningPosition | None,
        limit: int,
    ) -> Sequence[RescreeningCandidate]:
        params: dict[str, Any] = {
            "school": school_code,
            "high": high.rank,
            "limit": limit,
            "after_class": after.class_code if after else None,
            "after_rank": -after.rank if after else None,
            "after_student": after.student_id if after else None,
        }
        rows = await self._rows(_RESCREENING.bindparams(**params))
        return [
            RescreeningCandidate(
                student_id=r.student_id,
                class_code=r.class_code,
                level=_RANKED[r.rank],
                last_submission_id=r.submission_id,
                last_screened_at=r.submitted_at,
            )
            for r in rows
        ]

    async def confirm(
        self, submission_id: UUID, level: RiskLevel, by: str, at: datetime, reason_cipher: bytes
    ) -> None:
        await self._session.execute(
            update(results)
            .where(results.c.submission_id == submission_id)
            .values(
                confirmed_level=level.value,
                confirmed_by=by,
                confirmed_at=at,
                confirmation_reason_cipher=reason_cipher,
            )
        )

    # guardian-informing tasks
    async def open_task(self, task: GuardianTask) -> None:
        statement = pg_insert(guardian_tasks).values(
            **{**task.__dict__, "level": task.level.value, "status": task.status.value}
        )
        excluded_rank = case(
            {"green": 0, "yellow": 1, "orange": 2, "red": 3},
            value=statement.excluded.level,
            else_=-1,
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[guardian_tasks.c.submission_id],
                set_={"level": statement.excluded.level},
                where=and_(guardian_tasks.c.status == "open", excluded_rank > _LEVEL_RANK),
            )
        )

    async def tasks(
        self,
        school_code: str,
        include_done: bool,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> Sequence[GuardianTask]:
        statement = select(guardian_tasks).where(guardian_tasks.c.school_code == school_code)
        if not include_done:
            statement = statement.where(guardian_tasks.c.status == TaskStatus.OPEN.value)
        if after is not None:
            statement = statement.where(
                tuple_(guardian_tasks.c.due_at, guardian_tasks.c.task_id) > tuple_(*after)
            )
        statement = statement.order_by(guardian_tasks.c.due_at, guardian_tasks.c.task_id).limit(
            limit
        )
        return [_task(r) for r in await self._rows(statement)]

    async def task(self, task_id: UUID) -> GuardianTask | None:
        row = await self._first(select(guardian_tasks).where(guardian_tasks.c.task_id == task_id))
        return _task(row) if row is not None else None

    async def complete_task(self, task_id: UUID, by: str, at: datetime, note_cipher: bytes) -> None:
        await self._session.execute(
            update(guardian_tasks)
            .where(guardian_tasks.c.task_id == task_id)
            .values(status=TaskStatus.DONE.value, done_by=by, done_at=at, note_cipher=note_cipher)
        )

    # coverage
    async def coverage(
        self, campaign_id: UUID, group_column: str, unit_column: str, unit: str
    ) -> dict[str, tuple[int, int]]:
        submitted = (
            select(
                results.c.student_id,
                func.count().label("instruments"),
            )
            .where(results.c.campaign_id == campaign_id)
            .group_by(results.c.student_id)
            .subquery()
        )
        # One row per student: the latest sitting they were captured in.
        students = (
            select(
                participants.c.student_id,
                participants.c[group_column].label("unit"),
                func.bool_or(participants.c.joined_at.is_not(None)).label("started"),
                func.max(func.jsonb_array_length(participants.c.battery)).label("battery"),
            )
            .where(participants.c.campaign_id == campaign_id)
            .group_by(participants.c.student_id, participants.c[group_column])
        )
        if unit_column:
            students = students.where(participants.c[unit_column] == unit)
        per_student = students.subquery()
        statement = (
            select(
                per_student.c.unit,
                func.count().filter(per_student.c.started).label("started"),
                func.count()
                .filter(func.coalesce(submitted.c.instruments, 0) >= per_student.c.battery)
                .label("submitted"),
            )
            .select_from(
                per_student.outerjoin(submitted, submitted.c.student_id == per_student.c.student_id)
            )
            .group_by(per_student.c.unit)
        )
        return {r.unit: (int(r.started), int(r.submitted)) for r in await self._rows(statement)}

    # events and audit
    async def publish(self, event: DomainEvent) -> None:
        topic, message = event_of(event)
        await self._writer.add(self._session, topic, message)

    async def audit_sensitive_read(
        self, principal: Principal, action: str, resource_type: str, resource_id: str
    ) -> None:
        if self._audit is None:
            raise RuntimeError("no audit recorder: sensitive reads cannot be recorded")
        await self._audit.sensitive_read(
            self._session, principal, action, resource_type, resource_id
        )


class SqlStore:
    """``async with store() as repository``: one transaction, committed at the end."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: OutboxWriter,
        audit: AuditRecorder | None = None,
    ) -> None:
        self._sessions = sessions
        self._writer = writer
        self.audit = audit

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlScreening]:
        async with self._sessions() as session, session.begin():
            yield SqlScreening(session, self._writer, self.audit)
