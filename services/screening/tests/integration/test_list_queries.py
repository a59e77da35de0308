"""The re-screening list, the guardian-task pages and the results a view may show by level are
selected in PostgreSQL, not in Python:
with thousands of results in a school they give the answers of the rule spelled out in Python
(the fake repository's), page after page, and their plans read the indexes made for them
instead of scanning the school's results."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fakes import CLASS, COUNTY, OTHER_CLASS, PSYCH, SCHOOL, FakeRepository, Tables
from sqlalchemy import event, text
from storage_support import Database

from screening.adapters.db.tables import guardian_tasks, results
from screening.domain.instruments import RiskLevel
from screening.domain.model import (
    GuardianTask,
    InstrumentRef,
    RescreeningCandidate,
    RescreeningPosition,
    Result,
    TaskStatus,
)
from screening.domain.ports import LevelFilter
from screening.domain.results import Results

pytestmark = pytest.mark.integration

STUDENTS = 1500
RESULTS_PER_STUDENT = 6  # 9,000 results in the school, and some in another
OTHER_SCHOOL = "3607020002"
START = datetime(2026, 9, 1, 8, tzinfo=UTC)
CLASSES = (CLASS, OTHER_CLASS, f"{SCHOOL}0103", f"{SCHOOL}0104")


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _school_results(rng: random.Random) -> list[Result]:
    made = []
    levels = list(RiskLevel)
    for n in range(STUDENTS):
        student = _uuid(rng)
        school = OTHER_SCHOOL if n % 10 == 0 else SCHOOL
        at = START + timedelta(minutes=n)
        for k in range(RESULTS_PER_STUDENT):
            at += timedelta(days=rng.randint(1, 30))
            critical = rng.random() < 0.08
            confirmed = rng.random() < 0.05
            made.append(
                Result(
                    submission_id=_uuid(rng),
                    campaign_id=_uuid(rng),
                    student_id=student,
                    sitting_id=_uuid(rng),
                    school_code=school,
                    county_code=COUNTY,
                    # Students change class: the list shows the latest result's.
                    class_code=CLASSES[(n + k // 4) % len(CLASSES)],
                    instrument=InstrumentRef("phq-a", "1.0.0"),
                    policy_version="1",
                    submitted_at=at,
                    suggested_level=rng.choice([None, *levels]),
                    critical=critical,
                    valid=True,
                    answers_cipher=b"sealed",
                    detail_cipher=b"sealed",
                    confirmed_level=rng.choice(levels) if confirmed else None,
                    confirmed_by="psych" if confirmed else "",
                    confirmed_at=at + timedelta(days=rng.randint(0, 40)) if confirmed else None,
                    confirmation_reason_cipher=b"sealed" if confirmed else None,
                )
            )
    return made


def _row(result: Result) -> dict[str, Any]:
    row = dict(result.__dict__)
    instrument = row.pop("instrument")
    row["instrument_id"], row["version"] = instrument.instrument_id, instrument.version
    row["suggested_level"] = result.suggested_level.value if result.suggested_level else None
    row["confirmed_level"] = result.confirmed_level.value if result.confirmed_level else None
    return row


def _tasks(rng: random.Random, made: list[Result]) -> list[GuardianTask]:
    return [
        GuardianTask(
            task_id=_uuid(rng),
            student_id=r.student_id,
            submission_id=r.submission_id,
            school_code=r.school_code,
            county_code=r.county_code,
            class_code=r.class_code,
            level=RiskLevel.RED,
            cause="flagged",
            status=TaskStatus.DONE if rng.random() < 0.8 else TaskStatus.OPEN,
            # Many share a due time: the task id breaks the tie.
            due_at=START + timedelta(hours=rng.randint(0, 50)),
            created_at=START,
        )
        for r in made
        if r.critical
    ]


@pytest.fixture
async def loaded(database: Database) -> tuple[list[Result], list[GuardianTask]]:
    rng = random.Random(20261128)
    made = _school_results(rng)
    tasks = _tasks(rng, made)
    async with database.engine.begin() as connection:
        await connection.execute(results.insert(), [_row(r) for r in made])
        await connection.execute(
            guardian_tasks.insert(),
            [{**t.__dict__, "level": t.level.value, "status": t.status.value} for t in tasks],
        )
        await connection.execute(text("ANALYZE results"))
        await connection.execute(text("ANALYZE guardian_tasks"))
    return made, tasks


@contextmanager
def _statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) the repository sends while the block runs."""
    sent: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        sent.append((args[2], args[3]))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def _plans(database: Database, sent: list[tuple[str, Any]], table: str) -> list[str]:
    plans = []
    async with database.engine.connect() as connection:
        for statement, parameters in sent:
            if f"FROM {table}" not in statement:
                continue
            found = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plans.append("\n".join(str(r[0]) for r in found))
    return plans


async def test_rescreening_in_sql_is_the_rule_page_after_page(
    loaded: tuple[list[Result], list[GuardianTask]], world: Any
) -> None:
    made, _ = loaded
    reference = FakeRepository(Tables(results={r.submission_id: r for r in made}))
    for high in (RiskLevel.ORANGE, RiskLevel.RED):
        expected = list(await reference.rescreening(SCHOOL, high, None, 10**6))
        assert len(expected) > 300  # enough to page, and more than one level and class
        assert {c.level for c in expected} > {high}
        assert len({c.class_code for c in expected}) == len(CLASSES)
        listed: list[RescreeningCandidate] = []
        after: RescreeningPosition | None = None
        async with world.store() as repository:
            while True:
                page = await repository.rescreening(SCHOOL, high, after, 97)
                listed.extend(page)
                if len(page) < 97:
                    break
                last = page[-1]
                after = RescreeningPosition(last.class_code, last.level.rank, last.student_id)
        assert listed == expected


async def test_rescreening_pages_through_the_use_case(
    database: Database, loaded: tuple[list[Result], list[GuardianTask]], world: Any
) -> None:
    made, _ = loaded
    use_case: Results = world.results
    reference = FakeRepository(Tables(results={r.submission_id: r for r in made}))
    expected = list(await reference.rescreening(SCHOOL, RiskLevel.ORANGE, None, 10**6))
    listed: list[RescreeningCandidate] = []
    token, pages = "", 0
    while True:
        page = await use_case.rescreening(PSYCH, SCHOOL, 100, token)
        listed.extend(page.candidates)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert listed == expected
    assert pages == -(-len(expected) // 100)


async def test_guardian_task_pages_in_sql(
    database: Database, loaded: tuple[list[Result], list[GuardianTask]], world: Any
) -> None:
    _, tasks = loaded
    use_case: Results = world.results
    for include_done in (False, True):
        expected = sorted(
            (
                t.task_id
                for t in tasks
                if t.school_code == SCHOOL and (include_done or t.status is TaskStatus.OPEN)
            ),
            key=lambda i: next((t.due_at, str(t.task_id)) for t in tasks if t.task_id == i),
        )
        listed: list[UUID] = []
        token = ""
        while True:
            page = await use_case.tasks(PSYCH, SCHOOL, include_done, 50, token)
            assert len(page.tasks) <= 50
            listed.extend(v.task.task_id for v in page.tasks)
            token = page.next_page_token
            if not token:
                break
        assert listed == expected


async def test_the_plans_read_the_indexes_not_the_school(
    database: Database, loaded: tuple[list[Result], list[GuardianTask]], world: Any
) -> None:
    use_case: Results = world.results
    with _statements(database) as sent:
        first = await use_case.rescreening(PSYCH, SCHOOL, 100, "")
        await use_case.rescreening(PSYCH, SCHOOL, 100, first.next_page_token)
    plans = await _plans(database, sent, "results")
    assert len(plans) == 2
    for plan in plans:
        for index in (
            "ix_results_school_student_confirmed",
            "ix_results_school_student_flagged",
            "ix_results_school_student_submitted",
        ):
            assert index in plan, plan
        assert "Seq Scan" not in plan, plan
    for include_done, index in (
        (False, "ix_guardian_tasks_school_status_due"),
        (True, "ix_guardian_tasks_school_due"),
    ):
        with _statements(database) as sent:
            first_tasks = await use_case.tasks(PSYCH, SCHOOL, include_done, 50, "")
            await use_case.tasks(PSYCH, SCHOOL, include_done, 50, first_tasks.next_page_token)
        task_plans = await _plans(database, sent, "guardian_tasks")
        assert len(task_plans) == 2
        for plan in task_plans:
            # The school's (open) tasks after the position, from the index; no scan.
            assert index in plan, plan
            assert "Seq Scan" not in plan, plan
            assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(
    "levels",
    [
        LevelFilter("either", frozenset({RiskLevel.ORANGE, RiskLevel.RED})),
        LevelFilter("confirmed", frozenset({RiskLevel.YELLOW, RiskLevel.ORANGE, RiskLevel.RED})),
        LevelFilter("follow_up", frozenset({RiskLevel.ORANGE, RiskLevel.RED})),
    ],
)
async def test_level_filters_in_sql_are_the_rule_page_after_page(
    loaded: tuple[list[Result], list[GuardianTask]], world: Any, levels: LevelFilter
) -> None:
    made, _ = loaded
    reference = FakeRepository(Tables(results={r.submission_id: r for r in made}))
    query = {
        "campaign_id": None,
        "unit_column": "school_code",
        "unit": SCHOOL,
        "class_codes": None,
        "confirmed_only": False,
        "levels": levels,
    }
    expected = list(await reference.results(**query, after=None, limit=10**6))
    assert 100 < len(expected) < len([r for r in made if r.school_code == SCHOOL])
    listed: list[Result] = []
    after: tuple[datetime, UUID] | None = None
    async with world.store() as repository:
        while True:
            page = await repository.results(**query, after=after, limit=101)
            listed.extend(page)
            if len(page) < 101:
                break
            after = (page[-1].submitted_at, page[-1].submission_id)
    assert [r.submission_id for r in listed] == [r.submission_id for r in expected]
