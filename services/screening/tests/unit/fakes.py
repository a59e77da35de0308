"""In-memory fakes of screening's own ports, and a world to run use cases in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from screening.domain.campaigns import CampaignDraft, Campaigns
from screening.domain.codes import SittingKeys
from screening.domain.instruments import Catalogue, RiskLevel, load_policy
from screening.domain.model import (
    Campaign,
    CampaignKind,
    Consent,
    DomainEvent,
    Draft,
    EnrolmentCounts,
    GuardianTask,
    InstrumentRef,
    Me,
    Participant,
    Relationship,
    RelationshipKind,
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
    TaskStatus,
)
from screening.domain.ports import LevelFilter
from screening.domain.results import Results
from screening.domain.sealing import Sealer
from screening.domain.shelf import InstrumentShelf
from screening.domain.sittings import Sittings
from xinyu_core.auth import Principal
from xinyu_core.crypto import FieldCipher
from xinyu_core.errors import NotFound, PermissionDenied
from xinyu_core.testing import principal

CITY = "360700"
COUNTY = "360702"
OTHER_COUNTY = "360703"
SCHOOL = "3607020001"
OTHER_SCHOOL = "3607020002"
COHORT = 2024
CLASS = f"{SCHOOL}-{COHORT}-01"
OTHER_CLASS = f"{SCHOOL}-{COHORT}-02"
NOW = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)
KEY = bytes(range(32))
FAKE_NAME = "王小明"


def subject(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


GATEWAY = principal("service", subject=subject(900))
COUNTY_ADMIN = principal("county_admin", org_unit=COUNTY, subject=subject(1))
CITY_ADMIN = principal("city_admin", org_unit=CITY, subject=subject(2))
PSYCH = principal("psych_teacher", org_unit=SCHOOL, subject=subject(3))
OTHER_PSYCH = principal("psych_teacher", org_unit=OTHER_SCHOOL, subject=subject(4))
SCHOOL_ADMIN = principal("school_admin", org_unit=SCHOOL, subject=subject(5))
HEAD = principal("head_teacher", org_unit=SCHOOL, subject=subject(6))
OTHER_HEAD = principal("head_teacher", org_unit=SCHOOL, subject=subject(7))
COUNSELLOR = principal("county_counsellor", org_unit=COUNTY, subject=subject(8))
OTHER_COUNSELLOR = principal("county_counsellor", org_unit=OTHER_COUNTY, subject=subject(9))
GUARDIAN = principal("guardian", subject=subject(10))
OPERATOR = principal("operator", subject=subject(11))
STUDENT = principal("student", org_unit=SCHOOL, subject=subject(12))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Tables:
    instruments: list[StoredInstrument] = field(default_factory=list)
    campaigns: dict[UUID, Campaign] = field(default_factory=dict)
    consents: list[Consent] = field(default_factory=list)
    sittings: dict[UUID, Sitting] = field(default_factory=dict)
    participants: dict[tuple[UUID, UUID], Participant] = field(default_factory=dict)
    drafts: dict[tuple[UUID, UUID, str], Draft] = field(default_factory=dict)
    results: dict[UUID, Result] = field(default_factory=dict)
    tasks: dict[UUID, GuardianTask] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    audited: list[tuple[str, str, str, str]] = field(default_factory=list)
    # How many times results were queried (a page filled by the query asks once).
    result_queries: int = 0


def _let_through(levels: LevelFilter, result: Result) -> bool:
    """The level filter spelled out in Python (the repository's SQL must agree)."""
    if levels.kind == "either":
        return bool({result.suggested_level, result.confirmed_level} & levels.levels)
    if levels.kind == "confirmed":
        return result.confirmed_level in levels.levels
    level = result.confirmed_level or result.suggested_level
    return result.critical or level in levels.levels


class FakeRepository:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def stored_instruments(self) -> Sequence[StoredInstrument]:
        return list(self.t.instruments)

    async def add_instrument(self, instrument: StoredInstrument) -> None:
        self.t.instruments.append(instrument)

    async def campaigns(self) -> Sequence[Campaign]:
        return list(self.t.campaigns.values())

    async def campaign(self, campaign_id: UUID) -> Campaign | None:
        return self.t.campaigns.get(campaign_id)

    async def save_campaign(self, campaign: Campaign) -> None:
        self.t.campaigns[campaign.campaign_id] = campaign

    async def add_consent(self, consent: Consent) -> None:
        self.t.consents.append(consent)

    async def consented(self, campaign_id: UUID, student_ids: Sequence[UUID]) -> set[UUID]:
        latest: dict[UUID, Consent] = {}
        for c in sorted(self.t.consents, key=lambda c: c.recorded_at):
            if c.campaign_id == campaign_id and c.student_id in student_ids:
                latest[c.student_id] = c
        return {s for s, c in latest.items() if c.granted}

    async def join_code_taken(self, join_code_hash: str) -> bool:
        return any(s.join_code_hash == join_code_hash for s in self.t.sittings.values())

    async def add_sitting(self, sitting: Sitting, participants: Sequence[Participant]) -> None:
        self.t.sittings[sitting.sitting_id] = sitting
        for p in participants:
            self.t.participants[(p.sitting_id, p.student_id)] = p

    async def sitting_by_join_code(self, join_code_hash: str) -> Sitting | None:
        return next(
            (s for s in self.t.sittings.values() if s.join_code_hash == join_code_hash), None
        )

    async def participant_by_code(self, sitting_id: UUID, code_hash: str) -> Participant | None:
        return next(
            (
                p
                for p in self.t.participants.values()
                if p.sitting_id == sitting_id and p.code_hash == code_hash
            ),
            None,
        )

    async def count_wrong_code(self, sitting_id: UUID) -> int:
        sitting = self.t.sittings[sitting_id]
        self.t.sittings[sitting_id] = replace(sitting, wrong_codes=sitting.wrong_codes + 1)
        return sitting.wrong_codes + 1

    async def mark_joined(self, sitting_id: UUID, student_id: UUID, at: datetime) -> None:
        p = self.t.participants[(sitting_id, student_id)]
        self.t.participants[(sitting_id, student_id)] = replace(p, joined_at=at)

    async def seat(self, sitting_id: UUID, student_id: UUID) -> SittingSeat | None:
        p = self.t.participants.get((sitting_id, student_id))
        if p is None:
            return None
        sitting = self.t.sittings[sitting_id]
        campaign = self.t.campaigns[p.campaign_id]
        return SittingSeat(
            p, min(sitting.expires_at, campaign.closes_at), campaign.status.value == "open"
        )

    async def drafts(self, campaign_id: UUID, student_id: UUID) -> Sequence[Draft]:
        return [d for (c, s, _), d in self.t.drafts.items() if (c, s) == (campaign_id, student_id)]

    async def draft(self, campaign_id: UUID, student_id: UUID, instrument_id: str) -> Draft | None:
        return self.t.drafts.get((campaign_id, student_id, instrument_id))

    async def save_draft(self, draft: Draft) -> None:
        key = (draft.campaign_id, draft.student_id, draft.instrument.instrument_id)
        self.t.drafts[key] = draft

    async def add_result(
        self,
        result: Result,
        recorded: ResultRecorded,
        flagged: ResultFlagged | None = None,
        task: GuardianTask | None = None,
    ) -> bool:
        self.t.drafts.pop(
            (result.campaign_id, result.student_id, result.instrument.instrument_id), None
        )
        if result.submission_id in self.t.results:
            return False
        for r in self.t.results.values():
            if (r.campaign_id, r.student_id, r.instrument.instrument_id) == (
                result.campaign_id,
                result.student_id,
                result.instrument.instrument_id,
            ):
                return False
        self.t.results[result.submission_id] = result
        self.t.events.append(recorded)
        if flagged is not None:
            self.t.events.append(flagged)
        if task is not None:
            await self.open_task(task)
        return True

    async def result(self, submission_id: UUID) -> Result | None:
        return self.t.results.get(submission_id)

    async def result_for(
        self, campaign_id: UUID, student_id: UUID, instrument_id: str
    ) -> Result | None:
        return next(
            (
                r
                for r in self.t.results.values()
                if (r.campaign_id, r.student_id, r.instrument.instrument_id)
                == (campaign_id, student_id, instrument_id)
            ),
            None,
        )

    async def submitted_instruments(self, campaign_id: UUID, student_id: UUID) -> set[str]:
        return {
            r.instrument.instrument_id
            for r in self.t.results.values()
            if (r.campaign_id, r.student_id) == (campaign_id, student_id)
        }

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
        self.t.result_queries += 1
        found = [
            r
            for r in self.t.results.values()
            if getattr(r, unit_column) == unit
            and (campaign_id is None or r.campaign_id == campaign_id)
            and (class_codes is None or r.class_code in class_codes)
            and (not confirmed_only or r.confirmed_level is not None)
            and (levels is None or _let_through(levels, r))
        ]
        found.sort(key=lambda r: (r.submitted_at, str(r.submission_id)))
        if after is not None:
            found = [
                r
                for r in found
                if (r.submitted_at, str(r.submission_id)) > (after[0], str(after[1]))
            ]
        return found[:limit]

    async def rescreening(
        self,
        school_code: str,
        high: RiskLevel,
        after: RescreeningPosition | None,
        limit: int,
    ) -> Sequence[RescreeningCandidate]:
        # The rule spelled out in Python, one student at a time: the integration tests hold
        # the SQL of the real repository to the same answers.
        by_student: dict[UUID, list[Result]] = {}
        for r in self.t.results.values():
            if r.school_code == school_code:
                by_student.setdefault(r.student_id, []).append(r)
        found = []
        for student_id, own in by_student.items():
            own.sort(key=lambda r: (r.submitted_at, str(r.submission_id)))
            confirmed = [r for r in own if r.confirmed_at is not None]
            last_confirmed = max(
                confirmed, key=lambda r: r.confirmed_at or r.submitted_at, default=None
            )
            cut = last_confirmed.confirmed_at if last_confirmed else None
            levels = []
            kept = last_confirmed.confirmed_level if last_confirmed else None
            if kept is not None and kept.rank >= high.rank:
                levels.append(kept)
            flagged = [r for r in own if r.critical and (cut is None or r.submitted_at > cut)]
            if flagged:
                levels.append(flagged[-1].suggested_level or RiskLevel.RED)
            if not levels:
                continue
            level = max(levels, key=lambda v: v.rank)
            latest = own[-1]
            found.append(
                RescreeningCandidate(
                    student_id, latest.class_code, level, latest.submission_id, latest.submitted_at
                )
            )

        def key(c: RescreeningCandidate) -> tuple[str, int, str]:
            return (c.class_code, -c.level.rank, str(c.student_id))

        found.sort(key=key)
        if after is not None:
            mark = (after.class_code, -after.rank, str(after.student_id))
            found = [c for c in found if key(c) > mark]
        return found[:limit]

    async def confirm(
        self, submission_id: UUID, level: RiskLevel, by: str, at: datetime, reason_cipher: bytes
    ) -> None:
        r = self.t.results[submission_id]
        self.t.results[submission_id] = replace(
            r,
            confirmed_level=level,
            confirmed_by=by,
            confirmed_at=at,
            confirmation_reason_cipher=reason_cipher,
        )

    async def open_task(self, task: GuardianTask) -> None:
        existing = next(
            (t for t in self.t.tasks.values() if t.submission_id == task.submission_id), None
        )
        if existing is None:
            self.t.tasks[task.task_id] = task
        elif existing.status is TaskStatus.OPEN and task.level.rank > existing.level.rank:
            self.t.tasks[existing.task_id] = replace(existing, level=task.level)

    async def tasks(
        self,
        school_code: str,
        include_done: bool,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> Sequence[GuardianTask]:
        found = sorted(
            (
                t
                for t in self.t.tasks.values()
                if t.school_code == school_code and (include_done or t.status is TaskStatus.OPEN)
            ),
            key=lambda t: (t.due_at, str(t.task_id)),
        )
        if after is not None:
            found = [t for t in found if (t.due_at, str(t.task_id)) > (after[0], str(after[1]))]
        return found[:limit]

    async def task(self, task_id: UUID) -> GuardianTask | None:
        return self.t.tasks.get(task_id)

    async def complete_task(self, task_id: UUID, by: str, at: datetime, note_cipher: bytes) -> None:
        t = self.t.tasks[task_id]
        self.t.tasks[task_id] = replace(
            t, status=TaskStatus.DONE, done_by=by, done_at=at, note_cipher=note_cipher
        )

    async def coverage(
        self, campaign_id: UUID, group_column: str, unit_column: str, unit: str
    ) -> dict[str, tuple[int, int]]:
        counts: dict[str, list[int]] = {}
        for p in self.t.participants.values():
            if p.campaign_id != campaign_id or (unit_column and getattr(p, unit_column) != unit):
                continue
            row = counts.setdefault(getattr(p, group_column), [0, 0])
            row[0] += p.joined_at is not None
            done = await self.submitted_instruments(campaign_id, p.student_id)
            row[1] += len(done) >= len(p.battery)
        return {k: (v[0], v[1]) for k, v in counts.items()}

    async def publish(self, event: DomainEvent) -> None:
        self.t.events.append(event)

    async def audit_sensitive_read(
        self, principal: Principal, action: str, resource_type: str, resource_id: str
    ) -> None:
        self.t.audited.append((principal.subject, action, resource_type, resource_id))


class FakeStore:
    """Each unit of work sees a copy and commits it only when the block ends normally."""

    def __init__(self) -> None:
        self.t = Tables()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeRepository]:
        import copy

        working = copy.deepcopy(self.t)
        yield FakeRepository(working)
        self.t = working


class FakeIdentity:
    def __init__(self) -> None:
        self.relationships: dict[str, tuple[Relationship, ...]] = {}
        self.students: dict[str, list[StudentEntry]] = {}
        self.school_types: dict[str, SchoolType] = {SCHOOL: SchoolType.JUNIOR}
        self.calls: list[str] = []

    async def who_am_i(self, principal: Principal) -> Me:
        self.calls.append("who_am_i")
        return Me(self.relationships.get(principal.subject, ()))

    async def class_students(self, principal: Principal, class_code: str) -> list[StudentEntry]:
        self.calls.append("class_students")
        return list(self.students.get(class_code, []))

    async def school_type(self, principal: Principal, school_code: str) -> SchoolType:
        self.calls.append("school_type")
        return self.school_types[school_code]

    async def student_place(self, principal: Principal, student_id: str) -> StudentPlace:
        self.calls.append("student_place")
        for entries in self.students.values():
            for s in entries:
                if str(s.student_id) == student_id:
                    if principal.has_any_role("psych_teacher", "school_admin") and (
                        principal.org_unit != s.school_code
                    ):
                        raise PermissionDenied("identity: outside the caller's scope")
                    return StudentPlace(s.student_id, s.school_code, s.county_code)
        raise NotFound("identity: no such student")

    async def count_students(
        self,
        principal: Principal,
        org_unit: str,
        cohorts: Sequence[int],
        school_codes: Sequence[str],
    ) -> EnrolmentCounts:
        self.calls.append("count_students")
        children: dict[str, int] = {}
        for class_code, entries in self.students.items():
            for s in entries:
                if org_unit == s.school_code:
                    children[class_code] = children.get(class_code, 0) + 1
        return EnrolmentCounts(sum(children.values()), children)


def student(
    n: int, *, class_code: str = CLASS, birth: date | None = date(2011, 3, 1)
) -> StudentEntry:
    return StudentEntry(
        student_id=UUID(f"10000000-0000-4000-8000-{n:012d}"),
        full_name=f"{FAKE_NAME}{n}",
        school_code=class_code.split("-")[0],
        county_code=COUNTY,
        class_code=class_code,
        cohort=int(class_code.split("-")[1]),
        birth_date=birth,
    )


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.store = FakeStore()
        self.identity = FakeIdentity()
        catalogue = Catalogue.shipped()
        self.shelf = InstrumentShelf(catalogue, load_policy(catalogue), self.store, self.clock)
        self.sealer = Sealer(FieldCipher(KEY))
        self.keys = SittingKeys(b"unit-test-sitting-key-0123456789")
        self.campaigns = Campaigns(self.store, self.shelf, self.identity, self.clock)
        self.sittings = Sittings(
            self.store,
            self.shelf,
            self.identity,
            self.store,
            self.keys,
            self.sealer,
            self.clock,
        )
        self.results = Results(self.store, self.identity, self.sealer, self.clock)
        self.identity.relationships[HEAD.subject] = (
            Relationship(RelationshipKind.HEAD_TEACHER_OF, class_code=CLASS),
        )
        self.identity.relationships[OTHER_HEAD.subject] = (
            Relationship(RelationshipKind.HEAD_TEACHER_OF, class_code=OTHER_CLASS),
        )
        self.identity.students[CLASS] = [student(n) for n in range(1, 4)]
        self.identity.students[OTHER_CLASS] = [student(n, class_code=OTHER_CLASS) for n in (7, 8)]
        self.identity.relationships[GUARDIAN.subject] = (
            Relationship(RelationshipKind.GUARDIAN_OF, student_id=str(student(1).student_id)),
        )

    @property
    def t(self) -> Tables:
        return self.store.t

    def draft(self, **changes: object) -> CampaignDraft:
        base = CampaignDraft(
            name="2026 秋季普查",
            kind=CampaignKind.ANNUAL,
            scope_code=COUNTY,
            school_codes=(),
            cohorts=(),
            opens_at=NOW - timedelta(days=1),
            closes_at=NOW + timedelta(days=30),
            batteries=(
                (
                    "junior_secondary",
                    (InstrumentRef("phq-a", "1.0.0"), InstrumentRef("gad-7", "1.0.0")),
                ),
            ),
            consent_required_under_age=0,
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    async def campaign(self, **changes: object) -> Campaign:
        return await self.campaigns.open(COUNTY_ADMIN, self.draft(**changes))


def new_submission() -> str:
    return str(uuid4())
