"""Sittings: starting (who, consent, codes), joining (codes, rate limit), the sitting token,
saving and submitting answers (validation, idempotency, encryption, events, tasks)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from uuid import UUID

import jwt
import pytest
from fakes import (
    CLASS,
    COUNTY_ADMIN,
    FAKE_NAME,
    GATEWAY,
    GUARDIAN,
    HEAD,
    OTHER_HEAD,
    OTHER_PSYCH,
    PSYCH,
    SCHOOL_ADMIN,
    STUDENT,
    World,
    new_submission,
    student,
)

from screening.adapters.messaging.events import event_of
from screening.domain.codes import ALPHABET, SittingClaims, SittingKeys
from screening.domain.instruments import RiskLevel
from screening.domain.model import (
    Campaign,
    InstrumentRef,
    JoinedSitting,
    ResultFlagged,
    ResultRecorded,
    StartedSitting,
)
from xinyu_core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

PHQ_A = InstrumentRef("phq-a", "1.0.0")
GAD_7 = InstrumentRef("gad-7", "1.0.0")
CALM_PHQ_A = {f"q{n}": 0 for n in range(1, 10)} | {
    "past_year_depressed": 0,
    "past_month_suicidal_thoughts": 0,
    "lifetime_attempt": 0,
}
CALM_GAD_7 = {f"q{n}": 0 for n in range(1, 8)}


@pytest.fixture
def world() -> World:
    return World()


async def start(world: World, campaign: Campaign | None = None) -> StartedSitting:
    campaign = campaign or await world.campaign()
    return await world.sittings.start(HEAD, str(campaign.campaign_id), CLASS, 0)


async def join(world: World, started: StartedSitting, n: int = 0) -> JoinedSitting:
    return await world.sittings.join(GATEWAY, started.join_code, started.slips[n].personal_code)


def all_bytes(world: World) -> bytes:
    """Everything the fake tables hold, as one byte string to search."""
    return repr(world.t).encode()


# --- starting ------------------------------------------------------------------------------


async def test_the_head_teacher_starts_a_sitting_with_codes_kept_only_as_hashes(
    world: World,
) -> None:
    started = await start(world)
    assert len(started.join_code) == 6
    assert set(started.join_code) <= set(ALPHABET)
    codes = [s.personal_code for s in started.slips]
    assert len(codes) == 3
    assert len(set(codes)) == 3
    assert all(len(c) == 6 and set(c) <= set(ALPHABET) for c in codes)
    assert [s.full_name for s in started.slips] == [f"{FAKE_NAME}{n}" for n in (1, 2, 3)]
    stored = all_bytes(world)
    for secret in [started.join_code, *codes]:
        assert secret.encode() not in stored
    assert FAKE_NAME.encode() not in stored
    assert FAKE_NAME not in repr(world.t)
    participants = list(world.t.participants.values())
    assert {p.battery for p in participants} == {(PHQ_A, GAD_7)}
    assert all(p.grade_band.value == "junior_secondary" for p in participants)


async def test_only_the_class_head_teacher_or_the_school_psych_teacher_starts(
    world: World,
) -> None:
    campaign = await world.campaign()
    for caller in (OTHER_HEAD, OTHER_PSYCH, SCHOOL_ADMIN, STUDENT):
        with pytest.raises(PermissionDenied):
            await world.sittings.start(caller, str(campaign.campaign_id), CLASS, 0)
    world.identity.calls.clear()
    await world.sittings.start(PSYCH, str(campaign.campaign_id), CLASS, 30)
    assert "who_am_i" not in world.identity.calls


async def test_a_sitting_needs_a_running_campaign_with_a_battery_for_the_class(
    world: World,
) -> None:
    campaign = await world.campaign(
        batteries=(("senior_secondary", (InstrumentRef("phq-9", "1.0.0"),)),)
    )
    with pytest.raises(FailedPrecondition, match="no battery for junior_secondary"):
        await start(world, campaign)
    later = await world.campaign(opens_at=world.clock.now + timedelta(days=1))
    with pytest.raises(FailedPrecondition):
        await start(world, later)
    with pytest.raises(InvalidArgument) as caught:
        await world.sittings.start(HEAD, str(campaign.campaign_id), CLASS, 500)
    assert caught.value.field == "minutes"


async def test_under_age_students_without_consent_get_no_code(world: World) -> None:
    world.identity.students[CLASS] = [
        student(1, birth=date(2013, 3, 1)),  # 13: needs consent
        student(2, birth=date(2011, 3, 1)),  # 15
        student(3, birth=None),  # unknown age: treated as under age
    ]
    campaign = await world.campaign(consent_required_under_age=14)
    first = await start(world, campaign)
    assert [(s.consent_missing, bool(s.personal_code)) for s in first.slips] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    # The guardian consents for student 1; the school records a paper form for student 3.
    cid = str(campaign.campaign_id)
    await world.campaigns.record_consent(GUARDIAN, cid, str(student(1).student_id), True)
    await world.campaigns.record_consent(SCHOOL_ADMIN, cid, str(student(3).student_id), True)
    second = await start(world, campaign)
    assert [s.consent_missing for s in second.slips] == [False, False, False]
    # A withdrawal counts from then on.
    await world.campaigns.record_consent(GUARDIAN, cid, str(student(1).student_id), False)
    third = await start(world, campaign)
    assert third.slips[0].consent_missing


async def test_only_the_guardian_or_the_school_records_consent(world: World) -> None:
    campaign = await world.campaign()
    cid = str(campaign.campaign_id)
    with pytest.raises(PermissionDenied):  # guardian of student 1 only
        await world.campaigns.record_consent(GUARDIAN, cid, str(student(2).student_id), True)
    with pytest.raises(PermissionDenied):
        await world.campaigns.record_consent(HEAD, cid, str(student(2).student_id), True)
    with pytest.raises(PermissionDenied):
        await world.campaigns.record_consent(OTHER_PSYCH, cid, str(student(2).student_id), True)
    await world.campaigns.record_consent(PSYCH, cid, str(student(2).student_id), True)
    assert [c.via for c in world.t.consents] == ["school"]


# --- joining ------------------------------------------------------------------------------


async def test_a_student_joins_with_both_codes_through_the_gateway(world: World) -> None:
    started = await start(world)
    joined = await join(world, started, 1)
    claims = world.keys.verify(joined.token, world.clock.now)
    assert claims == SittingClaims(started.slips[1].student_id, started.sitting.sitting_id)
    payload = jwt.decode(joined.token, options={"verify_signature": False})
    assert payload["iss"] == "screening"
    assert payload["aud"] == "xinyu-sitting"
    assert payload["exp"] == int(started.sitting.expires_at.timestamp())
    assert [b.instrument for b in joined.battery] == [PHQ_A, GAD_7]
    # Codes are forgiving about case and spaces, as typed from a slip.
    code = started.slips[0].personal_code
    await world.sittings.join(GATEWAY, started.join_code.lower(), f"{code[:3]} {code[3:]}")
    with pytest.raises(PermissionDenied):
        await world.sittings.join(STUDENT, started.join_code, code)


async def test_wrong_codes_are_counted_and_lock_the_sitting(world: World) -> None:
    started = await start(world)
    with pytest.raises(NotFound):
        await world.sittings.join(GATEWAY, "ZZZZZZ", started.slips[0].personal_code)
    wrong = "22222" + ("3" if started.slips[0].personal_code != "222223" else "4")
    for _ in range(5 * 3):
        with pytest.raises(InvalidArgument) as caught:
            await world.sittings.join(GATEWAY, started.join_code, wrong)
        assert caught.value.field == "personal_code"
    with pytest.raises(FailedPrecondition, match="too many wrong codes"):
        await join(world, started)
    with pytest.raises(InvalidArgument) as caught:
        await world.sittings.join(GATEWAY, started.join_code, "O0I1")
    assert caught.value.field == "personal_code"


async def test_an_ended_sitting_admits_no_one(world: World) -> None:
    started = await start(world)
    world.clock.advance(minutes=91)
    with pytest.raises(FailedPrecondition):
        await join(world, started)


# --- the sitting token -------------------------------------------------------------------


async def test_answers_need_a_valid_token_for_this_sitting_from_the_gateway(
    world: World,
) -> None:
    started = await start(world)
    joined = await join(world, started)
    save = world.sittings.save
    with pytest.raises(PermissionDenied):
        await save(STUDENT, joined.token, PHQ_A, {"q1": 1})
    tampered = joined.token[:-2] + ("AA" if not joined.token.endswith("AA") else "BB")
    forged = SittingKeys(b"another-key-entirely-0123456789ab").issue(
        SittingClaims(started.slips[0].student_id, started.sitting.sitting_id),
        world.clock.now,
        started.sitting.expires_at,
    )
    other = await start(world)
    # A genuine token naming a sitting the student is not in.
    elsewhere = world.keys.issue(
        SittingClaims(UUID(int=5), other.sitting.sitting_id),
        world.clock.now,
        started.sitting.expires_at,
    )
    assert await save(GATEWAY, joined.token, PHQ_A, {"q1": 1}) == 1  # verified, remembered
    for token in ("", "not-a-jwt", tampered, forged, elsewhere):
        with pytest.raises(Unauthenticated):
            await save(GATEWAY, token, PHQ_A, {"q1": 1})
    # A remembered token still expires.
    world.clock.advance(minutes=91)
    with pytest.raises(Unauthenticated, match="expired"):
        await save(GATEWAY, joined.token, PHQ_A, {"q1": 1})


# --- saving and submitting ----------------------------------------------------------------


async def test_saved_answers_merge_and_come_back_on_joining_again(world: World) -> None:
    started = await start(world)
    joined = await join(world, started)
    assert await world.sittings.save(GATEWAY, joined.token, PHQ_A, {"q1": 1, "q2": 2}) == 2
    assert await world.sittings.save(GATEWAY, joined.token, PHQ_A, {"q2": 3, "q3": 0}) == 3
    again = await join(world, started)
    assert dict(again.battery[0].answers) == {"q1": 1, "q2": 3, "q3": 0}
    assert dict(again.battery[1].answers) == {}
    for bad, field in (({"q99": 1}, "answers.q99"), ({"q1": 7}, "answers.q1")):
        with pytest.raises(InvalidArgument) as caught:
            await world.sittings.save(GATEWAY, joined.token, PHQ_A, bad)
        assert caught.value.field == field
    draft = next(iter(world.t.drafts.values()))
    assert b'"q2"' not in draft.answers_cipher
    assert b"q1" not in draft.answers_cipher


async def test_a_submission_is_checked_item_by_item(world: World) -> None:
    started = await start(world)
    joined = await join(world, started)
    submit = world.sittings.submit
    missing = {k: v for k, v in CALM_PHQ_A.items() if k != "q4"}
    cases = [
        (PHQ_A, missing, "answers.q4"),
        (PHQ_A, CALM_PHQ_A | {"q3": 9}, "answers.q3"),
        (PHQ_A, CALM_PHQ_A | {"q42": 1}, "answers.q42"),
        (InstrumentRef("phq-a", "2.0.0"), CALM_PHQ_A, "instrument.version"),
        (InstrumentRef("phq-9", "1.0.0"), CALM_PHQ_A, "instrument.instrument_id"),
    ]
    for ref, answers, field in cases:
        with pytest.raises(InvalidArgument) as caught:
            await submit(GATEWAY, joined.token, ref, answers, new_submission())
        assert caught.value.field == field
    with pytest.raises(InvalidArgument) as caught:
        await submit(GATEWAY, joined.token, PHQ_A, CALM_PHQ_A, "not-a-uuid")
    assert caught.value.field == "submission_id"
    assert world.t.results == {}


async def test_submitting_is_idempotent_and_once_per_instrument(world: World) -> None:
    started = await start(world)
    joined = await join(world, started)
    await world.sittings.save(GATEWAY, joined.token, GAD_7, {"q1": 1})
    world.identity.calls.clear()
    sid = new_submission()
    first = await world.sittings.submit(GATEWAY, joined.token, GAD_7, CALM_GAD_7, sid)
    assert not first.duplicate
    assert world.identity.calls == []  # no identity call on the hot path
    again = await world.sittings.submit(GATEWAY, joined.token, GAD_7, CALM_GAD_7, sid)
    assert again.duplicate
    assert again.submission_id == first.submission_id
    with pytest.raises(AlreadyExists):
        await world.sittings.submit(GATEWAY, joined.token, GAD_7, CALM_GAD_7, new_submission())
    with pytest.raises(FailedPrecondition):
        await world.sittings.save(GATEWAY, joined.token, GAD_7, {"q1": 1})
    assert len(world.t.results) == 1
    assert world.t.drafts == {}  # the draft went with the submission
    assert [type(e) for e in world.t.events[1:]] == [ResultRecorded]
    # Someone else's submission id is not theirs to resend.
    other = await join(world, started, 1)
    with pytest.raises(AlreadyExists):
        await world.sittings.submit(GATEWAY, other.token, GAD_7, CALM_GAD_7, sid)
    # Once the sitting token has expired, even a resend is refused: the app must not retry.
    world.clock.advance(minutes=91)
    with pytest.raises(Unauthenticated):
        await world.sittings.submit(GATEWAY, joined.token, GAD_7, CALM_GAD_7, sid)


async def test_a_critical_answer_is_flagged_at_once_whatever_the_total(world: World) -> None:
    started = await start(world)
    joined = await join(world, started)
    answers = CALM_PHQ_A | {"q9": 1}  # total 1: minimal, but item 9 above zero
    sid = new_submission()
    await world.sittings.submit(GATEWAY, joined.token, PHQ_A, answers, sid)
    result = world.t.results[UUID(sid)]
    assert result.critical
    assert result.suggested_level is RiskLevel.RED
    recorded, flagged = world.t.events[1:]
    assert isinstance(recorded, ResultRecorded)
    assert isinstance(flagged, ResultFlagged)
    assert flagged.rule_ids == ("self_harm_thoughts",)
    (task,) = world.t.tasks.values()
    assert (task.cause, task.level, task.submission_id) == ("flagged", RiskLevel.RED, UUID(sid))
    joined_again = await join(world, started)
    assert [b.submitted for b in joined_again.battery] == [True, False]


async def test_answers_never_leave_in_clear(world: World) -> None:
    started = await start(world)
    joined = await join(world, started)
    answers = CALM_PHQ_A | {"q1": 3, "q2": 2, "q9": 1}
    sid = new_submission()
    await world.sittings.submit(GATEWAY, joined.token, PHQ_A, answers, sid)
    result = world.t.results[UUID(sid)]
    clear = json.dumps(answers, separators=(",", ":"), sort_keys=True).encode()
    for cipher in (result.answers_cipher, result.detail_cipher):
        assert clear not in cipher
        assert b"q9" not in cipher
        assert b"self_harm" not in cipher
    assert world.sealer.open_answers(UUID(sid), result.answers_cipher) == answers
    # Bound to its row: the same bytes under another submission id do not open.
    with pytest.raises(ValueError, match="does not verify"):
        world.sealer.open_answers(UUID(int=1), result.answers_cipher)
    # Events carry ids, codes and levels: no answers, no names, no scores.
    for fact in world.t.events:
        topic, message = event_of(fact)
        payload = message.SerializeToString()
        assert FAKE_NAME.encode() not in payload
        assert b"past_month" not in payload
        assert b'"q1"' not in payload
        assert message.meta.subject in (str(result.student_id), str(result.campaign_id))  # type: ignore[attr-defined]
        assert topic.startswith("screening.")


async def test_a_closed_campaign_takes_no_more_answers(world: World) -> None:
    campaign = await world.campaign()
    started = await start(world, campaign)
    joined = await join(world, started)
    await world.campaigns.close(COUNTY_ADMIN, str(campaign.campaign_id))
    with pytest.raises(FailedPrecondition):
        await world.sittings.submit(GATEWAY, joined.token, GAD_7, CALM_GAD_7, new_submission())
