"""Who sees which results, the psychology teacher's confirmation, re-screening lists and
guardian-informing tasks.

- psychology teachers and school admins of the school: suggested and confirmed levels;
- head teachers: their own classes only, and only that a student needs follow-up;
- county and city staff: confirmed levels only (a suggestion stays inside the school);
- answers: psychology teachers of the student's school only, every read audited.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from screening.domain.access import (
    SCHOOL_STAFF,
    is_beyond_school_staff,
    is_psych_teacher,
    is_school_staff,
    require,
    school_of,
    unit_kind,
)
from screening.domain.campaigns import parse_uuid
from screening.domain.instruments import RiskLevel
from screening.domain.model import (
    GuardianTask,
    GuardianTaskView,
    LevelConfirmed,
    RescreeningCandidate,
    RescreeningPosition,
    Result,
    ResultView,
    ResultWithAnswers,
    TaskStatus,
    guardian_task,
)
from screening.domain.ports import Clock, Identity, LevelFilter, Store
from screening.domain.sealing import Sealer
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, NotFound, PermissionDenied

GET_RESULT = "/xinyu.screening.v1.ScreeningService/GetResult"
DEFAULT_PAGE = 100
MAX_PAGE = 500
MAX_TEXT = 2000
REASON_WHERE = "results.confirmation_reason"
NOTE_WHERE = "guardian_tasks.note"


@dataclass(frozen=True)
class ResultPage:
    results: tuple[ResultView, ...]
    next_page_token: str


@dataclass(frozen=True)
class RescreeningPage:
    candidates: tuple[RescreeningCandidate, ...]
    next_page_token: str


@dataclass(frozen=True)
class TaskPage:
    tasks: tuple[GuardianTaskView, ...]
    next_page_token: str


def _at_least(level: RiskLevel | None, floor: RiskLevel | None) -> bool:
    return floor is None or (level is not None and level.rank >= floor.rank)


def _from(floor: RiskLevel) -> frozenset[RiskLevel]:
    return frozenset(level for level in RiskLevel if level.rank >= floor.rank)


def _higher(a: RiskLevel | None, b: RiskLevel | None) -> RiskLevel | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.rank >= b.rank else b


def _limit(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(page_size or DEFAULT_PAGE, MAX_PAGE)


def _encode(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode()


def _decode(token: str, parts: int) -> list[str]:
    try:
        found = base64.urlsafe_b64decode(token.encode()).decode().split("|")
    except ValueError as error:
        raise InvalidArgument("page_token", "is not a token this service gave") from error
    if len(found) != parts:
        raise InvalidArgument("page_token", "is not a token this service gave")
    return found


def _token(position: tuple[datetime, UUID]) -> str:
    return _encode(position[0].isoformat(), str(position[1]))


def _position(token: str) -> tuple[datetime, UUID] | None:
    if not token:
        return None
    at, row = _decode(token, 2)
    try:
        return datetime.fromisoformat(at), UUID(row)
    except ValueError as error:
        raise InvalidArgument("page_token", "is not a token this service gave") from error


def _rescreening_position(token: str) -> RescreeningPosition | None:
    if not token:
        return None
    class_code, rank, student = _decode(token, 3)
    try:
        position = RescreeningPosition(class_code, int(rank), UUID(student))
    except ValueError as error:
        raise InvalidArgument("page_token", "is not a token this service gave") from error
    if not 0 <= position.rank < len(RiskLevel):
        raise InvalidArgument("page_token", "is not a token this service gave")
    return position


class Results:
    def __init__(
        self,
        store: Store,
        identity: Identity,
        sealer: Sealer,
        clock: Clock,
        *,
        high_risk_level: RiskLevel = RiskLevel.ORANGE,
        guardian_task_days: int = 3,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._store = store
        self._identity = identity
        self._sealer = sealer
        self._clock = clock
        self._high = high_risk_level
        self._task_days = guardian_task_days
        self._new_id = new_id

    def needs_follow_up(self, result: Result) -> bool:
        level = result.confirmed_level or result.suggested_level
        return result.critical or _at_least(level, self._high)

    # --- listing -------------------------------------------------------------------------

    async def list(
        self,
        principal: Principal,
        campaign_id: str,
        org_unit: str,
        at_least: RiskLevel | None,
        page_size: int,
        page_token: str,
    ) -> ResultPage:
        campaign = parse_uuid(campaign_id, "campaign_id") if campaign_id else None
        unit = org_unit or principal.org_unit
        kind = unit_kind(unit)
        if kind == "city":
            raise InvalidArgument("org_unit", "list a county, a school or a class")
        limit = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        after = _position(page_token)
        school = school_of(unit) if kind in ("school", "class") else ""
        view: str
        classes: list[str] | None = None
        if school and is_school_staff(principal, school):
            view = "school"
        elif is_beyond_school_staff(principal, unit):
            view = "beyond"
        elif principal.has_any_role("head_teacher") and kind in ("school", "class"):
            me = await self._identity.who_am_i(principal)
            classes = sorted(c for c in me.head_teacher_classes() if school_of(c) == school)
            if kind == "class":
                classes = [c for c in classes if c == unit]
            require(bool(classes))
            view = "head"
        else:
            raise PermissionDenied("the caller may not list results here")
        if view == "head" and at_least is not None:
            # A head teacher is never shown a level, so no level filter can match.
            return ResultPage((), "")
        levels = self._level_filter(view, at_least)
        column = {"county": "county_code", "school": "school_code", "class": "class_code"}[kind]
        views: list[ResultView] = []
        async with self._store() as repository:
            while len(views) < limit:
                batch = await repository.results(
                    campaign_id=campaign,
                    unit_column=column,
                    unit=unit,
                    class_codes=classes,
                    confirmed_only=view == "beyond",
                    after=after,
                    limit=limit,
                    levels=levels,
                )
                for result in batch:
                    after = (result.submitted_at, result.submission_id)
                    shown = self._view(view, result, at_least)
                    if shown is not None:
                        views.append(shown)
                        if len(views) == limit:
                            break
                if len(batch) < limit:
                    after = None
                    break
        token = _token(after) if after is not None and len(views) == limit else ""
        return ResultPage(tuple(views), token)

    def _level_filter(self, view: str, at_least: RiskLevel | None) -> LevelFilter | None:
        """What the view lets through, for the database to select (``_view`` decides again)."""
        if view == "head":
            return LevelFilter("follow_up", _from(self._high))
        if at_least is None:
            return None
        return LevelFilter("either" if view == "school" else "confirmed", _from(at_least))

    def _view(self, view: str, result: Result, at_least: RiskLevel | None) -> ResultView | None:
        follow_up = self.needs_follow_up(result)
        if view == "school":
            if not _at_least(_higher(result.suggested_level, result.confirmed_level), at_least):
                return None
            return ResultView(
                result,
                result.suggested_level,
                result.confirmed_level,
                follow_up,
                result.critical,
                result.valid,
            )
        if view == "beyond":
            if result.confirmed_level is None or not _at_least(result.confirmed_level, at_least):
                return None
            follow_up = _at_least(result.confirmed_level, self._high)
            return ResultView(result, None, result.confirmed_level, follow_up, False, True)
        # A head teacher hears only that a student of their class needs follow-up.
        if not follow_up or at_least is not None:
            return None
        return ResultView(result, None, None, True, False, True)

    # --- one result with its answers -----------------------------------------------------

    async def get(self, principal: Principal, submission_id: str) -> ResultWithAnswers:
        wanted = parse_uuid(submission_id, "submission_id")
        async with self._store() as repository:
            result = await repository.result(wanted)
            if result is None:
                raise NotFound("no such result")
            require(is_psych_teacher(principal, result.school_code))
            # Recorded in the transaction that reads: no record, no answers.
            await repository.audit_sensitive_read(
                principal, GET_RESULT, "student", str(result.student_id)
            )
        return ResultWithAnswers(
            result=result,
            answers=self._sealer.open_answers(wanted, result.answers_cipher),
            detail=self._sealer.open_detail(wanted, result.detail_cipher),
            confirmation_reason=self._sealer.open_text(
                REASON_WHERE, wanted, result.confirmation_reason_cipher
            ),
        )

    # --- confirmation --------------------------------------------------------------------

    async def confirm(
        self, principal: Principal, submission_id: str, level: RiskLevel | None, reason: str
    ) -> ResultView:
        wanted = parse_uuid(submission_id, "submission_id")
        if level is None:
            raise InvalidArgument("level", "is required")
        reason = reason.strip()
        if not reason:
            raise InvalidArgument("reason", "is required")
        if len(reason) > MAX_TEXT:
            raise InvalidArgument("reason", f"must be at most {MAX_TEXT} characters")
        now = self._clock()
        async with self._store() as repository:
            result = await repository.result(wanted)
            if result is None:
                raise NotFound("no such result")
            require(is_psych_teacher(principal, result.school_code))
            await repository.confirm(
                wanted,
                level,
                principal.subject,
                now,
                self._sealer.seal_text(REASON_WHERE, wanted, reason),
            )
            confirmed = Result(
                **{
                    **result.__dict__,
                    "confirmed_level": level,
                    "confirmed_by": principal.subject,
                    "confirmed_at": now,
                }
            )
            await repository.publish(LevelConfirmed(confirmed))
            if _at_least(level, self._high):
                await repository.open_task(
                    guardian_task(
                        self._new_id(), confirmed, level, "confirmed", now, self._task_days
                    )
                )
        return ResultView(
            confirmed,
            confirmed.suggested_level,
            level,
            self.needs_follow_up(confirmed),
            confirmed.critical,
            confirmed.valid,
        )

    # --- re-screening --------------------------------------------------------------------

    async def rescreening(
        self, principal: Principal, school_code: str, page_size: int = 0, page_token: str = ""
    ) -> RescreeningPage:
        school = school_code or principal.org_unit
        if unit_kind(school) != "school":
            raise InvalidArgument("school_code", "must be a school code")
        require(is_school_staff(principal, school))
        limit = _limit(page_size)
        after = _rescreening_position(page_token)
        async with self._store() as repository:
            found = await repository.rescreening(school, self._high, after, limit + 1)
        page = tuple(found[:limit])
        token = ""
        if len(found) > limit:
            last = page[-1]
            token = _encode(last.class_code, str(last.level.rank), str(last.student_id))
        return RescreeningPage(page, token)

    # --- guardian-informing tasks --------------------------------------------------------

    async def tasks(
        self,
        principal: Principal,
        school_code: str,
        include_done: bool,
        page_size: int = 0,
        page_token: str = "",
    ) -> TaskPage:
        school = school_code or principal.org_unit
        if unit_kind(school) != "school":
            raise InvalidArgument("school_code", "must be a school code")
        require(is_school_staff(principal, school))
        limit = _limit(page_size)
        after = _position(page_token)
        async with self._store() as repository:
            found = await repository.tasks(school, include_done, after, limit + 1)
        page = found[:limit]
        token = _token((page[-1].due_at, page[-1].task_id)) if len(found) > limit else ""
        views = tuple(
            GuardianTaskView(
                task, self._sealer.open_text(NOTE_WHERE, task.task_id, task.note_cipher)
            )
            for task in page
        )
        return TaskPage(views, token)

    async def complete_task(
        self, principal: Principal, task_id: str, note: str
    ) -> GuardianTaskView:
        wanted = parse_uuid(task_id, "task_id")
        note = note.strip()
        if not note:
            raise InvalidArgument("note", "say how and when the guardian was informed")
        if len(note) > MAX_TEXT:
            raise InvalidArgument("note", f"must be at most {MAX_TEXT} characters")
        now = self._clock()
        async with self._store() as repository:
            task = await repository.task(wanted)
            if task is None:
                raise NotFound("no such task")
            require(
                principal.has_any_role(*SCHOOL_STAFF) and principal.org_unit == task.school_code
            )
            if task.status is TaskStatus.DONE:
                return GuardianTaskView(
                    task, self._sealer.open_text(NOTE_WHERE, task.task_id, task.note_cipher)
                )
            cipher = self._sealer.seal_text(NOTE_WHERE, wanted, note)
            await repository.complete_task(wanted, principal.subject, now, cipher)
        done = GuardianTask(
            **{
                **task.__dict__,
                "status": TaskStatus.DONE,
                "done_by": principal.subject,
                "done_at": now,
                "note_cipher": cipher,
            }
        )
        return GuardianTaskView(done, note)
