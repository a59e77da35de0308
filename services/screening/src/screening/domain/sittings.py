"""Class sittings: started by a head teacher or psychology teacher, joined by students with a
join code and a personal code, answered (saved, then submitted once) under a sitting token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from screening.domain.access import is_psych_teacher, require, school_of, unit_kind
from screening.domain.campaigns import parse_uuid
from screening.domain.codes import SittingClaims, SittingKeys, is_code, new_code, normalise_code
from screening.domain.grades import age_on, grade_band
from screening.domain.instruments import RiskLevel
from screening.domain.model import (
    CriticalHit,
    Draft,
    InstrumentRef,
    JoinedSitting,
    Participant,
    Result,
    ResultDetail,
    ResultFlagged,
    ResultRecorded,
    SavedInstrument,
    ScaleScore,
    Sitting,
    SittingSeat,
    SlipEntry,
    StartedSitting,
    guardian_task,
)
from screening.domain.ports import AnswerRepository, AnswerStore, Clock, Identity, Store
from screening.domain.scoring import ScoringResult, Submission, score_sitting
from screening.domain.sealing import Sealer
from screening.domain.shelf import InstrumentShelf
from xinyu_core.auth import Principal
from xinyu_core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_MINUTES = 90
MAX_MINUTES = 240
MAX_ANSWERS = 500


@dataclass(frozen=True)
class SittingRules:
    wrong_codes_per_participant: int = 5
    high_risk_level: RiskLevel = RiskLevel.ORANGE
    guardian_task_days: int = 3


@dataclass(frozen=True)
class Submitted:
    submission_id: UUID
    duplicate: bool


def require_service(principal: Principal) -> None:
    """Students answer through the gateway's own client: they have no Keycloak token."""
    if not principal.is_service:
        raise PermissionDenied("only the gateway's service client may call this")


def check_answers(answers: Mapping[str, int]) -> dict[str, int]:
    if len(answers) > MAX_ANSWERS:
        raise InvalidArgument("answers", "too many answers")
    return dict(answers)


def detail_of(scored: ScoringResult) -> ResultDetail:
    primary = None
    if scored.band is not None:
        owner = scored.scales.get(scored.band.owner)
        primary = owner.value if owner is not None else None
    return ResultDetail(
        total=float(primary) if primary is not None else None,
        band=scored.band.band if scored.band is not None else "",
        scales=tuple(
            ScaleScore(
                s.scale,
                float(s.value) if s.value is not None else None,
                s.band.band if s.band else "",
            )
            for s in scored.scales.values()
        ),
        critical=tuple(CriticalHit(c.rule, c.items, c.suggested_risk) for c in scored.critical),
        invalid_reason=", ".join(r.rule for r in scored.validity.reasons),
    )


class Sittings:
    def __init__(
        self,
        store: Store,
        shelf: InstrumentShelf,
        identity: Identity,
        answers: AnswerStore,
        keys: SittingKeys,
        sealer: Sealer,
        clock: Clock,
        rules: SittingRules = SittingRules(),
        new_id: Callable[[], UUID] = uuid4,
        new_code: Callable[[], str] = new_code,
    ) -> None:
        self._store = store
        self._shelf = shelf
        self._identity = identity
        self._keys = keys
        self._sealer = sealer
        self._clock = clock
        self._rules = rules
        self._new_id = new_id
        self._new_code = new_code
        # SubmitAnswers' own unit of work: the hot path, leaner than the store's.
        self._answers = answers

    # --- starting ------------------------------------------------------------------------

    async def start(
        self, principal: Principal, campaign_id: str, class_code: str, minutes: int
    ) -> StartedSitting:
        wanted = parse_uuid(campaign_id, "campaign_id")
        if not class_code or unit_kind(class_code) != "class":
            raise InvalidArgument("class_code", "must be a class code")
        minutes = minutes or DEFAULT_MINUTES
        if not 1 <= minutes <= MAX_MINUTES:
            raise InvalidArgument("minutes", f"must be 1 to {MAX_MINUTES}")
        school = school_of(class_code)
        if not is_psych_teacher(principal, school):
            me = await self._identity.who_am_i(principal)
            require(me.is_head_teacher_of(class_code) or me.is_psych_teacher_of(school))
        now = self._clock()
        async with self._store() as repository:
            campaign = await repository.campaign(wanted)
        if campaign is None:
            raise NotFound("no such campaign")
        if not campaign.is_running(now):
            raise FailedPrecondition("the campaign is not open for sittings now")
        if not campaign.covers_school(school):
            raise FailedPrecondition("the campaign does not cover this school")
        students = [
            s
            for s in await self._identity.class_students(principal, class_code)
            if campaign.takes_cohort(s.cohort)
        ]
        if not students:
            raise FailedPrecondition("the class has no students this campaign screens")
        school_type = await self._identity.school_type(principal, school)
        today = now.astimezone(LOCAL_ZONE).date()
        band = grade_band(school_type, students[0].cohort, today)
        battery = campaign.battery_for(band)
        if battery is None:
            raise FailedPrecondition(f"the campaign has no battery for {band.value}")
        expires_at = min(now + timedelta(minutes=minutes), campaign.closes_at)
        sitting_id = self._new_id()
        async with self._store() as repository:
            needing = [
                s.student_id
                for s in students
                if campaign.consent_required_under_age
                and (
                    s.birth_date is None
                    or age_on(s.birth_date, today) < campaign.consent_required_under_age
                )
            ]
            consented = await repository.consented(campaign.campaign_id, needing)
            missing = set(needing) - consented
            join_code = self._new_code()
            while await repository.join_code_taken(self._keys.join_code_hash(join_code)):
                join_code = self._new_code()
            participants, slips, codes = [], [], set()
            for student in students:
                code = ""
                if student.student_id not in missing:
                    code = self._new_code()
                    while code in codes:
                        code = self._new_code()
                    codes.add(code)
                participants.append(
                    Participant(
                        sitting_id=sitting_id,
                        student_id=student.student_id,
                        campaign_id=campaign.campaign_id,
                        school_code=student.school_code,
                        county_code=student.county_code,
                        class_code=class_code,
                        cohort=student.cohort,
                        grade_band=band,
                        battery=battery.instruments,
                        code_hash=self._keys.personal_code_hash(sitting_id, code) if code else None,
                        consent_missing=student.student_id in missing,
                    )
                )
                slips.append(
                    SlipEntry(
                        student.student_id,
                        student.full_name,
                        code,
                        student.student_id in missing,
                    )
                )
            sitting = Sitting(
                sitting_id=sitting_id,
                campaign_id=campaign.campaign_id,
                class_code=class_code,
                school_code=school,
                county_code=students[0].county_code,
                join_code_hash=self._keys.join_code_hash(join_code),
                expires_at=expires_at,
                started_by=principal.subject,
                created_at=now,
                participants=len(participants),
            )
            await repository.add_sitting(sitting, participants)
        return StartedSitting(sitting=sitting, join_code=join_code, slips=tuple(slips))

    # --- joining -------------------------------------------------------------------------

    async def join(self, principal: Principal, join_code: str, personal_code: str) -> JoinedSitting:
        require_service(principal)
        join_code, personal_code = normalise_code(join_code), normalise_code(personal_code)
        if not is_code(join_code):
            raise InvalidArgument("join_code", "must be the six characters shown to the class")
        if not is_code(personal_code):
            raise InvalidArgument("personal_code", "must be the six characters on the slip")
        now = self._clock()
        async with self._store() as repository:
            sitting = await repository.sitting_by_join_code(self._keys.join_code_hash(join_code))
            if sitting is None:
                raise NotFound("no sitting has this join code")
            if now >= sitting.expires_at:
                raise FailedPrecondition("the sitting has ended")
            limit = self._rules.wrong_codes_per_participant * max(sitting.participants, 1)
            if sitting.wrong_codes >= limit:
                raise FailedPrecondition(
                    "too many wrong codes: the teacher must start a new sitting"
                )
            participant = await repository.participant_by_code(
                sitting.sitting_id, self._keys.personal_code_hash(sitting.sitting_id, personal_code)
            )
            if participant is None:
                wrong = await repository.count_wrong_code(sitting.sitting_id)
                wrong_code = True
            else:
                wrong_code = False
                if participant.joined_at is None:
                    await repository.mark_joined(sitting.sitting_id, participant.student_id, now)
                drafts = {
                    d.instrument.instrument_id: d
                    for d in await repository.drafts(
                        participant.campaign_id, participant.student_id
                    )
                }
                submitted = await repository.submitted_instruments(
                    participant.campaign_id, participant.student_id
                )
        # The wrong attempt is counted (committed) before the caller hears of it.
        if wrong_code:
            left = limit - wrong
            raise InvalidArgument(
                "personal_code", f"not a code of this sitting ({max(left, 0)} tries left)"
            )
        assert participant is not None
        battery = []
        for ref in participant.battery:
            draft = drafts.get(ref.instrument_id)
            answers = (
                self._sealer.open_draft(
                    participant.campaign_id,
                    participant.student_id,
                    ref.instrument_id,
                    draft.answers_cipher,
                )
                if draft is not None and draft.instrument == ref
                else {}
            )
            battery.append(SavedInstrument(ref, answers, ref.instrument_id in submitted))
        token = self._keys.issue(
            SittingClaims(participant.student_id, sitting.sitting_id), now, sitting.expires_at
        )
        return JoinedSitting(
            token=token, expires_at=sitting.expires_at, sitting=sitting, battery=tuple(battery)
        )

    # --- answering -----------------------------------------------------------------------

    async def _seat(self, principal: Principal, token: str) -> tuple[SittingClaims, datetime]:
        require_service(principal)
        now = self._clock()
        return self._keys.verify(token, now), now

    def _instrument(self, seat: SittingSeat, instrument: InstrumentRef) -> InstrumentRef:
        if not instrument.instrument_id:
            raise InvalidArgument("instrument.instrument_id", "is required")
        given = next(
            (r for r in seat.participant.battery if r.instrument_id == instrument.instrument_id),
            None,
        )
        if given is None:
            raise InvalidArgument("instrument.instrument_id", "is not in this student's battery")
        if given.version != instrument.version:
            raise InvalidArgument(
                "instrument.version",
                f"this sitting gives {given.instrument_id} {given.version}, "
                f"not '{instrument.version}'",
            )
        return given

    @staticmethod
    def _check_seat(seat: SittingSeat | None, now: datetime) -> SittingSeat:
        if seat is None:
            raise Unauthenticated("the sitting token names no participant")
        if now >= seat.expires_at:
            raise Unauthenticated("the sitting has ended")
        if not seat.campaign_running:
            raise FailedPrecondition("the campaign is closed")
        return seat

    async def save(
        self,
        principal: Principal,
        token: str,
        instrument: InstrumentRef,
        answers: Mapping[str, int],
    ) -> int:
        claims, now = await self._seat(principal, token)
        given = check_answers(answers)
        async with self._store() as repository:
            seat = self._check_seat(
                await repository.seat(claims.sitting_id, claims.student_id), now
            )
            ref = self._instrument(seat, instrument)
            definition = await self._shelf.definition(ref.instrument_id, ref.version)
            for item_id, value in given.items():
                try:
                    item = definition.item(item_id)
                except StopIteration as error:
                    raise InvalidArgument(
                        f"answers.{item_id}", f"{ref.instrument_id} {ref.version} has no such item"
                    ) from error
                allowed = [o.value for o in definition.options_of(item)]
                if value not in allowed:
                    raise InvalidArgument(
                        f"answers.{item_id}",
                        f"{value!r} is not one of the option values "
                        + ", ".join(map(str, allowed)),
                    )
            campaign_id, student_id = seat.participant.campaign_id, seat.participant.student_id
            if ref.instrument_id in await repository.submitted_instruments(campaign_id, student_id):
                raise FailedPrecondition("this instrument was submitted already")
            draft = await repository.draft(campaign_id, student_id, ref.instrument_id)
            merged = (
                self._sealer.open_draft(
                    campaign_id, student_id, ref.instrument_id, draft.answers_cipher
                )
                if draft is not None and draft.instrument == ref
                else {}
            )
            merged.update(given)
            await repository.save_draft(
                Draft(
                    campaign_id=campaign_id,
                    student_id=student_id,
                    instrument=ref,
                    answers_cipher=self._sealer.seal_draft(
                        campaign_id, student_id, ref.instrument_id, merged
                    ),
                    updated_at=now,
                )
            )
        return len(merged)

    @staticmethod
    async def _duplicate(
        repository: AnswerRepository, submission_id: UUID, claims: SittingClaims
    ) -> bool:
        existing = await repository.result(submission_id)
        if existing is None:
            return False
        if existing.student_id != claims.student_id:
            raise AlreadyExists("this submission id is taken")
        return True

    async def submit(
        self,
        principal: Principal,
        token: str,
        instrument: InstrumentRef,
        answers: Mapping[str, int],
        submission_id: str,
    ) -> Submitted:
        claims, now = await self._seat(principal, token)
        wanted = parse_uuid(submission_id, "submission_id")
        given = check_answers(answers)
        engine = self._shelf.engine
        async with self._answers() as repository:
            seat = await repository.seat(claims.sitting_id, claims.student_id)
            ended = seat is None or now >= seat.expires_at or not seat.campaign_running
            # A resend after the sitting ended is still answered as the first was.
            if ended and await self._duplicate(repository, wanted, claims):
                return Submitted(wanted, duplicate=True)
            seat = self._check_seat(seat, now)
            ref = self._instrument(seat, instrument)
            try:
                definition = engine.catalogue.get(ref.instrument_id, ref.version)
            except InvalidArgument:
                definition = await self._shelf.definition(ref.instrument_id, ref.version)
                engine = self._shelf.engine
            scored = score_sitting(
                definition, engine.policy, Submission(ref.instrument_id, ref.version, given)
            )
            participant = seat.participant
            result = Result(
                submission_id=wanted,
                campaign_id=participant.campaign_id,
                student_id=participant.student_id,
                sitting_id=participant.sitting_id,
                school_code=participant.school_code,
                county_code=participant.county_code,
                class_code=participant.class_code,
                instrument=ref,
                policy_version=scored.policy_version,
                submitted_at=now,
                suggested_level=scored.suggested_risk,
                critical=bool(scored.critical),
                valid=scored.validity.valid,
                answers_cipher=self._sealer.seal_answers(wanted, given),
                detail_cipher=self._sealer.seal_detail(wanted, detail_of(scored)),
            )
            flagged, task = None, None
            if scored.critical:
                levels = [c.suggested_risk for c in scored.critical if c.suggested_risk]
                level = max(levels, key=lambda lv: lv.rank) if levels else None
                flagged = ResultFlagged(result, tuple(c.rule for c in scored.critical), level)
                task = guardian_task(
                    self._new_id(),
                    result,
                    level or RiskLevel.RED,
                    "flagged",
                    now,
                    self._rules.guardian_task_days,
                )
            # The result, its events and the flag's guardian task in one step; none of them
            # when it is a repeat.
            if not await repository.add_result(result, ResultRecorded(result), flagged, task):
                # A resend of this submission, or another one of the same instrument.
                if await self._duplicate(repository, wanted, claims):
                    return Submitted(wanted, duplicate=True)
                raise AlreadyExists("this instrument was submitted already")
        return Submitted(wanted, duplicate=False)
