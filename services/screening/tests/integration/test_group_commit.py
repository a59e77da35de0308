"""Group commit of SubmitAnswers against the real PostgreSQL: submissions that arrive together
are read and written by one query and one statement, each caller is answered on its own
(stored, duplicate, refused), events and guardian tasks exist exactly for the results stored,
and a row the database refuses fails only its own caller."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
from fakes import CLASS, GATEWAY, PSYCH, World, student
from sqlalchemy import event
from storage_support import Database
from test_sittings import CALM_GAD_7, CALM_PHQ_A, GAD_7, PHQ_A
from test_storage import sit

from screening.adapters.db.answers import PgAnswerStore
from screening.domain.model import ResultRecorded
from xinyu_core.errors import AlreadyExists

pytestmark = pytest.mark.integration


def _store(world: World) -> PgAnswerStore:
    store = world.sittings._answers
    assert isinstance(store, PgAnswerStore)
    return store


async def test_concurrent_submissions_are_written_in_batches_each_answered(
    world: World, database: Database
) -> None:
    world.identity.students[CLASS] = [student(n) for n in range(1, 41)]
    _, tokens = await sit(world)
    store = _store(world)
    flagged = {n for n in range(len(tokens)) if n % 5 == 0}
    ids = [str(uuid4()) for _ in tokens]

    def submit(n: int, submission_id: str) -> Any:
        if n in flagged:
            return world.sittings.submit(
                GATEWAY, tokens[n], PHQ_A, CALM_PHQ_A | {"q9": 1}, submission_id
            )
        return world.sittings.submit(GATEWAY, tokens[n], GAD_7, CALM_GAD_7, submission_id)

    before = (store.seats.batches, store.writes.batches)
    answered = await asyncio.gather(
        *(submit(n, ids[n]) for n in range(len(tokens))),
        # A resend racing its first copy, in the same batch, and a second GAD-7 of student 1.
        submit(1, ids[1]),
        world.sittings.submit(GATEWAY, tokens[1], GAD_7, CALM_GAD_7, str(uuid4())),
        return_exceptions=True,
    )
    assert [str(a.submission_id) for a in answered[: len(tokens)]] == ids  # type: ignore[union-attr]
    duplicates = [a.duplicate for a in answered[: len(tokens) + 1]]  # type: ignore[union-attr]
    assert sorted(duplicates).count(True) == 1
    assert isinstance(answered[-1], AlreadyExists)
    # Fewer statements than submissions: 42 submissions went in a few batches.
    seat_batches = store.seats.batches - before[0]
    write_batches = store.writes.batches - before[1]
    assert seat_batches < 10
    assert write_batches < 10

    stored = database.rows("SELECT submission_id::text AS id FROM results")
    assert sorted(r["id"] for r in stored) == sorted(ids)
    outbox = database.rows("SELECT topic, key FROM outbox WHERE topic LIKE 'screening.result.%'")
    recorded = [r for r in outbox if r["topic"] == "screening.result.recorded.v1"]
    flags = [r for r in outbox if r["topic"] == "screening.result.flagged.v1"]
    assert (len(recorded), len(flags)) == (len(tokens), len(flagged))
    tasks = database.rows("SELECT submission_id::text AS id FROM guardian_tasks")
    assert sorted(t["id"] for t in tasks) == sorted(ids[n] for n in flagged)


async def test_a_row_the_database_refuses_fails_only_its_caller(
    world: World, database: Database
) -> None:
    started, tokens = await sit(world)
    await world.sittings.submit(GATEWAY, tokens[0], GAD_7, CALM_GAD_7, str(uuid4()))
    listed = await world.results.list(PSYCH, "", CLASS, None, 0, "")
    template = listed.results[0].result
    store = _store(world)

    async def add(**changes: Any) -> bool:
        result = replace(template, submission_id=uuid4(), **changes)
        async with store() as answers:
            return await answers.add_result(result, ResultRecorded(result))

    fine = [
        add(instrument=replace(template.instrument, instrument_id=f"other-{n}")) for n in range(3)
    ]
    # Longer than results.instrument_id allows: checked nowhere before the database.
    broken = add(instrument=replace(template.instrument, instrument_id="x" * 65))
    before = store.writes.batches
    outcomes = await asyncio.gather(*fine, broken, return_exceptions=True)
    assert outcomes[:3] == [True, True, True]
    assert isinstance(outcomes[3], Exception)
    assert store.writes.batches - before == 1  # one batch, written one by one after its error
    assert len(database.rows("SELECT 1 FROM results")) == 4
    recorded = database.rows("SELECT 1 FROM outbox WHERE topic = 'screening.result.recorded.v1'")
    assert len(recorded) == 4
    del started


async def test_seats_read_together_are_each_callers_own(world: World) -> None:
    started, _ = await sit(world)
    store = _store(world)
    sitting = started.sitting.sitting_id
    students = [slip.student_id for slip in started.slips]

    async def seat(student_id: Any) -> Any:
        async with store() as answers:
            return await answers.seat(sitting, student_id)

    before = store.seats.batches
    found = await asyncio.gather(*(seat(s) for s in [*students, uuid4(), students[0]]))
    assert store.seats.batches - before == 1
    assert [f.participant.student_id for f in found[: len(students)]] == students
    assert found[len(students)] is None
    assert found[-1].participant.student_id == students[0]


async def test_batches_that_follow_each_other_keep_their_connections(
    world: World, database: Database
) -> None:
    world.identity.students[CLASS] = [student(n) for n in range(1, 7)]
    _, tokens = await sit(world)
    store = _store(world)
    checkouts: list[object] = []

    def checked_out(*args: Any) -> None:
        checkouts.append(args[0])

    event.listen(database.engine.sync_engine, "checkout", checked_out)
    try:
        for token in tokens[:5]:  # one after the other: each its own batch
            await world.sittings.submit(GATEWAY, token, GAD_7, CALM_GAD_7, str(uuid4()))
    finally:
        event.remove(database.engine.sync_engine, "checkout", checked_out)
    # One connection for the participants' batches, one for the results'.
    assert len(checkouts) == 2
    assert store._write_lane._pooled is not None
    # Idle, they go back to the pool.
    await asyncio.sleep(1.3)
    assert store._seat_lane._pooled is None
    assert store._write_lane._pooled is None
    await world.sittings.submit(GATEWAY, tokens[5], GAD_7, CALM_GAD_7, str(uuid4()))
    assert len(database.rows("SELECT 1 FROM results")) == 6
