"""Screening's use cases against the real PostgreSQL: what the rows hold (no clear answers,
codes or names), the outbox rows (they parse as the events they claim to be), idempotency and
the once-per-instrument rule enforced by the database, and the read-side queries."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from fakes import (
    CLASS,
    COUNSELLOR,
    COUNTY_ADMIN,
    FAKE_NAME,
    GATEWAY,
    HEAD,
    OPERATOR,
    PSYCH,
    SCHOOL,
    World,
)
from storage_support import Database
from test_instruments import DEFINITION, POLICY
from test_sittings import CALM_GAD_7, CALM_PHQ_A, GAD_7, PHQ_A

from screening.domain.instruments import RiskLevel
from screening.domain.model import InstrumentRef
from xinyu.events.v1 import audit_pb2
from xinyu.events.v1 import screening_pb2 as events
from xinyu_core.errors import AlreadyExists

pytestmark = pytest.mark.integration

PAYLOADS: dict[str, Any] = {
    "screening.result.recorded.v1": events.ResultRecorded,
    "screening.result.flagged.v1": events.ResultFlagged,
    "screening.level.confirmed.v1": events.LevelConfirmed,
    "screening.campaign.opened.v1": events.CampaignChanged,
    "screening.campaign.closed.v1": events.CampaignChanged,
    "platform.audit.recorded.v1": audit_pb2.AccessAudited,
}


def shown(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return json.dumps(value, default=str, ensure_ascii=False).encode()


async def sit(world: World) -> tuple[Any, list[Any]]:
    campaign = await world.campaign()
    started = await world.sittings.start(HEAD, str(campaign.campaign_id), CLASS, 0)
    tokens = [
        (await world.sittings.join(GATEWAY, started.join_code, slip.personal_code)).token
        for slip in started.slips
    ]
    return started, tokens


async def test_rows_hold_no_clear_answers_codes_or_names(world: World, database: Database) -> None:
    started, tokens = await sit(world)
    answers = CALM_PHQ_A | {"q1": 3, "q2": 2, "q9": 2}
    await world.sittings.save(GATEWAY, tokens[0], GAD_7, {"q1": 2, "q2": 3})
    sid = str(uuid4())
    await world.sittings.submit(GATEWAY, tokens[0], PHQ_A, answers, sid)

    (result,) = database.rows("SELECT * FROM results")
    (draft,) = database.rows("SELECT * FROM drafts")
    assert result["suggested_level"] == "red"
    assert result["critical"] is True
    clear = [
        json.dumps(answers, separators=(",", ":"), sort_keys=True).encode(),
        b'"q9":2',
        b'"q1":2',
        b"self_harm_thoughts",
        b"moderately",
    ]
    everything = b"".join(
        shown(value)
        for table in ("results", "drafts", "participants", "sittings", "outbox")
        for row in database.rows(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
        for value in row.values()
    )
    for secret in clear:
        assert secret not in result["answers_cipher"]
        assert secret not in result["detail_cipher"]
        assert secret not in draft["answers_cipher"]
    for secret in [started.join_code, *(s.personal_code for s in started.slips)]:
        assert secret.encode() not in everything
    assert FAKE_NAME.encode() not in everything
    assert world.sealer.open_answers(UUID(sid), bytes(result["answers_cipher"])) == answers


async def test_outbox_rows_parse_as_the_events_they_claim(world: World, database: Database) -> None:
    started, tokens = await sit(world)
    flagged = str(uuid4())
    await world.sittings.submit(GATEWAY, tokens[0], PHQ_A, CALM_PHQ_A | {"q9": 1}, flagged)
    await world.sittings.submit(GATEWAY, tokens[1], GAD_7, CALM_GAD_7, str(uuid4()))
    await world.results.get(PSYCH, flagged)
    await world.results.confirm(PSYCH, flagged, RiskLevel.ORANGE, "面谈后确认")
    outbox = database.rows("SELECT topic, key, payload, headers FROM outbox ORDER BY id")
    assert [r["topic"] for r in outbox] == [
        "screening.campaign.opened.v1",
        "screening.result.recorded.v1",
        "screening.result.flagged.v1",
        "screening.result.recorded.v1",
        "platform.audit.recorded.v1",
        "screening.level.confirmed.v1",
    ]
    student = str(started.slips[0].student_id)
    for row in outbox:
        message = PAYLOADS[row["topic"]].FromString(bytes(row["payload"]))
        assert row["headers"]["x-payload-type"] == message.DESCRIPTOR.full_name
        assert row["key"] == message.meta.subject
        assert FAKE_NAME.encode() not in bytes(row["payload"])
    flagged_event = events.ResultFlagged.FromString(bytes(outbox[2]["payload"]))
    assert flagged_event.student_id == student
    assert list(flagged_event.critical_rule_ids) == ["self_harm_thoughts"]
    read = audit_pb2.AccessAudited.FromString(bytes(outbox[4]["payload"]))
    assert (read.resource_type, read.resource_id, read.reason) == (
        "student",
        student,
        "sensitive-read",
    )
    assert read.outcome == audit_pb2.ACCESS_OUTCOME_ALLOWED
    # The flag opened a task at once; the confirmation raised nothing twice.
    tasks = database.rows("SELECT cause, level, status FROM guardian_tasks")
    assert tasks == [{"cause": "flagged", "level": "red", "status": "open"}]


async def test_the_database_keeps_one_submission_per_instrument(world: World) -> None:
    _, tokens = await sit(world)
    sid = str(uuid4())
    first = await world.sittings.submit(GATEWAY, tokens[0], GAD_7, CALM_GAD_7, sid)
    again = await world.sittings.submit(GATEWAY, tokens[0], GAD_7, CALM_GAD_7, sid)
    assert (first.duplicate, again.duplicate) == (False, True)
    with pytest.raises(AlreadyExists):
        await world.sittings.submit(GATEWAY, tokens[0], GAD_7, CALM_GAD_7, str(uuid4()))
    # Two resends racing each other: one result, both answered as accepted.
    racing = str(uuid4())
    both = await asyncio.gather(
        world.sittings.submit(GATEWAY, tokens[1], GAD_7, CALM_GAD_7, racing),
        world.sittings.submit(GATEWAY, tokens[1], GAD_7, CALM_GAD_7, racing),
    )
    assert sorted(s.duplicate for s in both) == [False, True]


async def test_reading_sides_work_on_the_real_queries(world: World) -> None:
    started, tokens = await sit(world)
    ids = []
    for token, (ref, answers) in zip(
        tokens,
        [
            (GAD_7, CALM_GAD_7),
            (GAD_7, CALM_GAD_7 | {"q1": 3, "q2": 3, "q3": 3, "q4": 2}),
            (PHQ_A, CALM_PHQ_A | {"q9": 1}),
        ],
        strict=True,
    ):
        sid = str(uuid4())
        await world.sittings.submit(GATEWAY, token, ref, answers, sid)
        ids.append(sid)
        world.clock.advance(seconds=1)
    page = await world.results.list(PSYCH, "", SCHOOL, None, 2, "")
    rest = await world.results.list(PSYCH, "", SCHOOL, None, 2, page.next_page_token)
    assert [str(v.result.submission_id) for v in (*page.results, *rest.results)] == ids
    head = await world.results.list(HEAD, "", CLASS, None, 0, "")
    assert [str(v.result.submission_id) for v in head.results] == ids[1:]
    await world.results.confirm(PSYCH, ids[1], RiskLevel.RED, "确认")
    county = await world.results.list(COUNSELLOR, "", "360702", None, 0, "")
    assert [(str(v.result.submission_id), v.confirmed_level) for v in county.results] == [
        (ids[1], RiskLevel.RED)
    ]
    candidates = (await world.results.rescreening(PSYCH, SCHOOL)).candidates
    assert {str(c.last_submission_id) for c in candidates} == {ids[1], ids[2]}
    tasks = (await world.results.tasks(PSYCH, SCHOOL, False)).tasks
    assert sorted(t.task.cause for t in tasks) == ["confirmed", "flagged"]
    done = await world.results.complete_task(PSYCH, str(tasks[0].task.task_id), "已电话告知")
    assert done.note == "已电话告知"
    assert len((await world.results.tasks(PSYCH, SCHOOL, False)).tasks) == 1
    coverage = await world.campaigns.coverage(PSYCH, str(started.sitting.campaign_id), SCHOOL)
    assert {r.org_unit: (r.started, r.submitted) for r in coverage.rows}[CLASS] == (3, 0)
    # Consent on the real table: the latest record wins.
    campaign = str(started.sitting.campaign_id)
    student = str(started.slips[0].student_id)
    await world.campaigns.record_consent(PSYCH, campaign, student, False)
    await world.campaigns.record_consent(PSYCH, campaign, student, True)


async def test_a_loaded_instrument_is_stored_and_read_back(world: World) -> None:
    await world.shelf.load(OPERATOR, DEFINITION, POLICY)
    catalogue_ids = world.shelf.catalogue.ids()
    assert "mini-licensed" in catalogue_ids
    stored = await world.shelf._store().__aenter__()
    del stored
    campaign = await world.campaigns.open(
        COUNTY_ADMIN,
        world.draft(batteries=(("junior_secondary", (InstrumentRef("mini-licensed", "1.0.0"),)),)),
    )
    assert campaign.batteries[0].instruments[0].instrument_id == "mini-licensed"
