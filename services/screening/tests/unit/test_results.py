"""Results: who sees what, reading answers (audited), confirming levels, guardian tasks,
re-screening lists and coverage."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from fakes import (
    CITY_ADMIN,
    CLASS,
    COUNSELLOR,
    COUNTY,
    GATEWAY,
    HEAD,
    OTHER_CLASS,
    OTHER_COUNSELLOR,
    OTHER_HEAD,
    OTHER_PSYCH,
    PSYCH,
    SCHOOL,
    SCHOOL_ADMIN,
    World,
    new_submission,
)
from test_sittings import CALM_GAD_7, CALM_PHQ_A, GAD_7, PHQ_A, join, start

from screening.domain.instruments import RiskLevel
from screening.domain.model import GuardianTask, LevelConfirmed, RescreeningCandidate, TaskStatus
from screening.domain.results import GET_RESULT
from xinyu_core.errors import InvalidArgument, PermissionDenied


class Scenario:
    """Three students of CLASS: 1 calm, 2 moderately anxious (GAD-7 11: orange), 3 flagged."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ids: dict[int, UUID] = {}
        self.students: dict[int, UUID] = {}

    async def run(self) -> Scenario:
        self.campaign = await self.world.campaign()
        started = await start(self.world, self.campaign)
        answers = {
            1: (GAD_7, CALM_GAD_7),
            2: (GAD_7, CALM_GAD_7 | {"q1": 3, "q2": 3, "q3": 3, "q4": 2}),
            3: (PHQ_A, CALM_PHQ_A | {"q9": 1}),
        }
        for n, (ref, given) in answers.items():
            joined = await join(self.world, started, n - 1)
            sid = new_submission()
            await self.world.sittings.submit(GATEWAY, joined.token, ref, given, sid)
            self.ids[n] = UUID(sid)
            self.students[n] = started.slips[n - 1].student_id
            self.world.clock.advance(seconds=1)
        return self


@pytest.fixture
async def scenario() -> Scenario:
    return await Scenario(World()).run()


async def test_school_staff_see_suggested_levels(scenario: Scenario) -> None:
    for caller in (PSYCH, SCHOOL_ADMIN):
        page = await scenario.world.results.list(caller, "", SCHOOL, None, 0, "")
        assert [v.suggested_level for v in page.results] == [
            RiskLevel.GREEN,
            RiskLevel.ORANGE,
            RiskLevel.RED,
        ]
        assert [v.needs_follow_up for v in page.results] == [False, True, True]
    page = await scenario.world.results.list(PSYCH, "", CLASS, RiskLevel.RED, 0, "")
    assert [v.result.submission_id for v in page.results] == [scenario.ids[3]]
    with pytest.raises(PermissionDenied):
        await scenario.world.results.list(OTHER_PSYCH, "", SCHOOL, None, 0, "")


async def test_pages_follow_each_other(scenario: Scenario) -> None:
    first = await scenario.world.results.list(PSYCH, "", SCHOOL, None, 2, "")
    assert len(first.results) == 2
    assert first.next_page_token
    second = await scenario.world.results.list(PSYCH, "", SCHOOL, None, 2, first.next_page_token)
    assert [v.result.submission_id for v in second.results] == [scenario.ids[3]]
    assert second.next_page_token == ""
    with pytest.raises(InvalidArgument) as caught:
        await scenario.world.results.list(PSYCH, "", SCHOOL, None, 2, "garbage")
    assert caught.value.field == "page_token"


async def test_a_head_teacher_hears_only_who_needs_follow_up_in_their_class(
    scenario: Scenario,
) -> None:
    page = await scenario.world.results.list(HEAD, "", CLASS, None, 0, "")
    assert [v.result.student_id for v in page.results] == [
        scenario.students[2],
        scenario.students[3],
    ]
    for view in page.results:
        assert view.needs_follow_up
        assert view.suggested_level is None
        assert view.confirmed_level is None
        assert not view.critical
    # Asking for levels says nothing to a head teacher.
    assert (await scenario.world.results.list(HEAD, "", CLASS, RiskLevel.RED, 0, "")).results == ()
    with pytest.raises(PermissionDenied):
        await scenario.world.results.list(OTHER_HEAD, "", CLASS, None, 0, "")
    other = await scenario.world.results.list(OTHER_HEAD, "", SCHOOL, None, 0, "")
    assert other.results == ()
    assert OTHER_CLASS not in {v.result.class_code for v in page.results}


async def test_a_head_teachers_page_is_selected_by_the_query_not_page_by_page(
    scenario: Scenario,
) -> None:
    store = scenario.world.store
    before = store.t.result_queries
    page = await scenario.world.results.list(HEAD, "", CLASS, None, 2, "")
    assert len(page.results) == 2
    # The follow-up rule went to the repository with the query, so one page is one query
    # however many results of the class need no follow-up.
    assert store.t.result_queries - before == 1


async def test_beyond_the_school_only_confirmed_levels_are_shared(scenario: Scenario) -> None:
    world = scenario.world
    for caller in (COUNSELLOR, CITY_ADMIN):
        assert (await world.results.list(caller, "", COUNTY, None, 0, "")).results == ()
    await world.results.confirm(PSYCH, str(scenario.ids[2]), RiskLevel.YELLOW, "面谈后调整")
    for caller in (COUNSELLOR, CITY_ADMIN):
        page = await world.results.list(caller, "", SCHOOL, None, 0, "")
        (view,) = page.results
        assert view.confirmed_level is RiskLevel.YELLOW
        assert view.suggested_level is None
        assert not view.needs_follow_up
    with pytest.raises(PermissionDenied):
        await world.results.list(OTHER_COUNSELLOR, "", COUNTY, None, 0, "")


async def test_answers_are_read_by_the_schools_psych_teacher_only_and_audited(
    scenario: Scenario,
) -> None:
    world = scenario.world
    for caller in (SCHOOL_ADMIN, HEAD, COUNSELLOR, OTHER_PSYCH, GATEWAY):
        with pytest.raises(PermissionDenied):
            await world.results.get(caller, str(scenario.ids[3]))
    assert world.t.audited == []
    found = await world.results.get(PSYCH, str(scenario.ids[3]))
    assert found.answers == CALM_PHQ_A | {"q9": 1}
    assert [c.rule_id for c in found.detail.critical] == ["self_harm_thoughts"]
    assert found.detail.band == "minimal"
    assert world.t.audited == [(PSYCH.subject, GET_RESULT, "student", str(scenario.students[3]))]


async def test_confirming_a_high_level_opens_a_guardian_task(scenario: Scenario) -> None:
    world = scenario.world
    with pytest.raises(InvalidArgument) as caught:
        await world.results.confirm(PSYCH, str(scenario.ids[2]), RiskLevel.ORANGE, "  ")
    assert caught.value.field == "reason"
    with pytest.raises(InvalidArgument) as caught:
        await world.results.confirm(PSYCH, str(scenario.ids[2]), None, "x")
    assert caught.value.field == "level"
    with pytest.raises(PermissionDenied):
        await world.results.confirm(SCHOOL_ADMIN, str(scenario.ids[2]), RiskLevel.RED, "x")
    await world.results.confirm(PSYCH, str(scenario.ids[1]), RiskLevel.GREEN, "无异常")
    assert len(world.t.tasks) == 1  # only the flagged student's, opened at submission
    view = await world.results.confirm(PSYCH, str(scenario.ids[2]), RiskLevel.ORANGE, "确认")
    assert view.confirmed_level is RiskLevel.ORANGE
    assert isinstance(world.t.events[-1], LevelConfirmed)
    assert world.t.events[-1].result.confirmed_level is RiskLevel.ORANGE
    causes = sorted(t.cause for t in world.t.tasks.values())
    assert causes == ["confirmed", "flagged"]
    stored = world.t.results[scenario.ids[2]].confirmation_reason_cipher
    assert stored is not None
    assert "确认".encode() not in stored
    assert (await world.results.get(PSYCH, str(scenario.ids[2]))).confirmation_reason == "确认"


async def test_guardian_tasks_are_completed_with_a_note(scenario: Scenario) -> None:
    world = scenario.world
    (task,) = (await world.results.tasks(SCHOOL_ADMIN, SCHOOL, False)).tasks
    assert task.task.student_id == scenario.students[3]
    for caller in (HEAD, OTHER_PSYCH, COUNSELLOR):
        with pytest.raises(PermissionDenied):
            await world.results.tasks(caller, SCHOOL, False)
    task_id = str(task.task.task_id)
    with pytest.raises(InvalidArgument) as caught:
        await world.results.complete_task(PSYCH, task_id, " ")
    assert caught.value.field == "note"
    with pytest.raises(PermissionDenied):
        await world.results.complete_task(OTHER_PSYCH, task_id, "电话告知")
    done = await world.results.complete_task(PSYCH, task_id, "电话告知母亲")
    assert done.task.status is TaskStatus.DONE
    assert done.note == "电话告知母亲"
    assert (await world.results.tasks(PSYCH, SCHOOL, False)).tasks == ()
    (kept,) = (await world.results.tasks(PSYCH, SCHOOL, True)).tasks
    assert kept.note == "电话告知母亲"
    cipher = world.t.tasks[task.task.task_id].note_cipher
    assert cipher is not None
    assert "电话".encode() not in cipher


async def test_rescreening_lists_flagged_and_confirmed_high_students(scenario: Scenario) -> None:
    world = scenario.world
    listed = (await world.results.rescreening(PSYCH, SCHOOL)).candidates
    assert [(c.student_id, c.level) for c in listed] == [(scenario.students[3], RiskLevel.RED)]
    await world.results.confirm(PSYCH, str(scenario.ids[2]), RiskLevel.RED, "确认")
    world.clock.advance(seconds=1)
    await world.results.confirm(PSYCH, str(scenario.ids[3]), RiskLevel.GREEN, "误答，已面谈")
    listed = (await world.results.rescreening(SCHOOL_ADMIN, SCHOOL)).candidates
    assert [(c.student_id, c.level) for c in listed] == [(scenario.students[2], RiskLevel.RED)]
    with pytest.raises(PermissionDenied):
        await world.results.rescreening(HEAD, SCHOOL)


def _many_flagged(world: World, template: UUID, count: int) -> list[UUID]:
    """``count`` more flagged students of the school, each with one result like ``template``
    (a flagged one), in two classes, one second apart."""
    base = world.t.results[template]
    students = []
    for n in range(count):
        student, submission = uuid4(), uuid4()
        world.t.results[submission] = replace(
            base,
            submission_id=submission,
            student_id=student,
            class_code=CLASS if n % 2 else OTHER_CLASS,
            suggested_level=RiskLevel.RED if n % 3 else RiskLevel.ORANGE,
            submitted_at=base.submitted_at + timedelta(seconds=n),
        )
        students.append(student)
    return students


async def test_rescreening_pages_follow_each_other(scenario: Scenario) -> None:
    world = scenario.world
    _many_flagged(world, scenario.ids[3], 11)
    whole = (await world.results.rescreening(PSYCH, SCHOOL, 500)).candidates
    assert len(whole) == 12
    assert [(c.class_code, -c.level.rank, str(c.student_id)) for c in whole] == sorted(
        (c.class_code, -c.level.rank, str(c.student_id)) for c in whole
    )
    seen: list[RescreeningCandidate] = []
    token, pages = "", 0
    while True:
        page = await world.results.rescreening(SCHOOL_ADMIN, SCHOOL, 5, token)
        assert len(page.candidates) <= 5
        seen.extend(page.candidates)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (list(whole), 3)
    default = await world.results.rescreening(PSYCH, SCHOOL)
    assert (len(default.candidates), default.next_page_token) == (12, "")
    for bad in ("nonsense", "YQ==", base64.urlsafe_b64encode(b"c|9|x").decode()):
        with pytest.raises(InvalidArgument) as caught:
            await world.results.rescreening(PSYCH, SCHOOL, 5, bad)
        assert caught.value.field == "page_token"


async def test_guardian_task_pages_follow_each_other(scenario: Scenario) -> None:
    world = scenario.world
    (first,) = world.t.tasks.values()
    for n in range(9):
        task_id = uuid4()
        world.t.tasks[task_id] = replace(
            first,
            task_id=task_id,
            submission_id=uuid4(),
            due_at=first.due_at + timedelta(hours=n % 4),
            status=TaskStatus.DONE if n % 3 == 0 else TaskStatus.OPEN,
        )
    for include_done, expected in ((False, 7), (True, 10)):
        seen: list[GuardianTask] = []
        token = ""
        while True:
            page = await world.results.tasks(PSYCH, SCHOOL, include_done, 3, token)
            assert len(page.tasks) <= 3
            seen.extend(v.task for v in page.tasks)
            token = page.next_page_token
            if not token:
                break
        assert len(seen) == len({t.task_id for t in seen}) == expected
        assert [(t.due_at, str(t.task_id)) for t in seen] == sorted(
            (t.due_at, str(t.task_id)) for t in seen
        )
    with pytest.raises(InvalidArgument) as caught:
        await world.results.tasks(PSYCH, SCHOOL, False, 3, "nonsense")
    assert caught.value.field == "page_token"


async def test_coverage_counts_expected_started_and_submitted(scenario: Scenario) -> None:
    world = scenario.world
    coverage = await world.campaigns.coverage(PSYCH, str(scenario.campaign.campaign_id), SCHOOL)
    rows = {r.org_unit: (r.expected, r.started, r.submitted) for r in coverage.rows}
    # Every student of CLASS joined; none finished both instruments of the battery.
    assert rows == {CLASS: (3, 3, 0), OTHER_CLASS: (2, 0, 0)}
    assert (coverage.total.expected, coverage.total.started) == (5, 3)
    with pytest.raises(PermissionDenied):
        await world.campaigns.coverage(OTHER_PSYCH, str(scenario.campaign.campaign_id), SCHOOL)
    with pytest.raises(PermissionDenied):
        await world.campaigns.coverage(HEAD, str(scenario.campaign.campaign_id), SCHOOL)
