"""An outside report's student: only agreement matches; anything else is for a person."""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.matching import MatchOutcome, MatchRequest, StudentMatcher
from identity.domain.model import Student
from identity.domain.resident_id import ResidentIdProtector, check_character
from xinyu_core.errors import InvalidArgument, PermissionDenied
from xinyu_core.testing import principal

PROTECTOR = ResidentIdProtector(b"unit-test-key-0123456789")
SERVICE = principal("service")


def resident_id(n: int) -> str:
    first17 = f"36070220150101{n:03d}"
    return first17 + check_character(first17)


def student(n: int, **changes: object) -> Student:
    rid = resident_id(n)
    base = Student(
        student_id=uuid4(),
        student_number="G" + rid,
        full_name=f"学生{n}",
        school_code="3607020001",
        county_code="360702",
        enrolled_at=datetime(2026, 9, 1, tzinfo=UTC),
        resident_id_hash=PROTECTOR.keyed_hash(rid),
        class_code="3607020001-2024-01",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    world = World()
    for s in (student(1), student(2), student(3, status="left")):
        world.students[s.student_id] = s
    return world


@pytest.fixture
def matcher(world: World) -> StudentMatcher:
    return StudentMatcher(units_for(world), PROTECTOR)


def by_name(world: World, name: str) -> Student:
    return next(s for s in world.students.values() if s.full_name == name)


async def test_number_resident_id_and_name_that_agree_match_exactly(
    world: World, matcher: StudentMatcher
) -> None:
    expected = by_name(world, "学生1")
    for number, rid, name in (
        (expected.student_number, "", ""),
        ("", resident_id(1), ""),
        (expected.student_number.lower(), resident_id(1).lower(), " 学生 1 "),
    ):
        match = await matcher.match(SERVICE, number, rid, name)
        assert (match.outcome, match.student) == (MatchOutcome.EXACT, expected)


async def test_a_student_who_left_still_matches(world: World, matcher: StudentMatcher) -> None:
    match = await matcher.match(SERVICE, "", resident_id(3), "")
    assert match.outcome is MatchOutcome.EXACT
    assert match.student is not None
    assert match.student.status == "left"


async def test_anything_uncertain_is_for_a_person(world: World, matcher: StudentMatcher) -> None:
    first = by_name(world, "学生1")
    for number, rid, name in (
        (first.student_number, resident_id(2), ""),  # two different students
        (first.student_number, "", "别人"),  # the name disagrees
        (first.student_number, resident_id(9), ""),  # the ID names nobody
        ("G" + resident_id(9), resident_id(1), ""),  # the number names nobody
    ):
        match = await matcher.match(SERVICE, number, rid, name)
        assert match.outcome is MatchOutcome.UNCERTAIN
        assert match.student is None
        assert match.reason


async def test_malformed_identifiers_are_invalid_without_repeating_them(
    matcher: StudentMatcher,
) -> None:
    bad_check = resident_id(1)[:17] + ("0" if resident_id(1)[17] != "0" else "1")
    for number, rid, field in (("12345", "", "student_number"), ("", bad_check, "resident_id")):
        match = await matcher.match(SERVICE, number, rid, "")
        assert match.outcome is MatchOutcome.INVALID
        assert match.reason.startswith(field)
        assert (number or rid) not in match.reason


async def test_unknown_identifiers_match_no_one(matcher: StudentMatcher) -> None:
    match = await matcher.match(SERVICE, "", resident_id(42), "")
    assert match.outcome is MatchOutcome.NONE


async def test_only_services_ask_and_something_must_be_given(matcher: StudentMatcher) -> None:
    with pytest.raises(PermissionDenied):
        await matcher.match(principal("city_admin", org_unit="360700"), "", resident_id(1), "")
    with pytest.raises(InvalidArgument) as nothing:
        await matcher.match(SERVICE, " ", "", "学生1")
    assert nothing.value.field == "student_number"


# Batches (BatchMatchStudents): the same rules, one answer per request in order, one unit of
# work and a bounded number of lookups however many requests.


async def test_a_batch_answers_each_request_in_order_by_the_same_rules(
    world: World, matcher: StudentMatcher
) -> None:
    first, second = by_name(world, "学生1"), by_name(world, "学生2")
    requests = [
        MatchRequest("", resident_id(2), "学生2"),  # exact by ID and name
        MatchRequest(first.student_number, resident_id(2), ""),  # two students
        MatchRequest("", "", "学生1"),  # nothing to match on
        MatchRequest("12345", "", ""),  # malformed number
        MatchRequest("", resident_id(42), ""),  # nobody
        MatchRequest(first.student_number.lower(), resident_id(1), " 学生 1 "),  # exact
        MatchRequest("", resident_id(1), "别人"),  # the name differs
        MatchRequest("", resident_id(2), ""),  # the same student again
    ]

    matches = await matcher.match_many(SERVICE, requests)

    assert [(m.outcome, m.student) for m in matches] == [
        (MatchOutcome.EXACT, second),
        (MatchOutcome.UNCERTAIN, None),
        (MatchOutcome.INVALID, None),
        (MatchOutcome.INVALID, None),
        (MatchOutcome.NONE, None),
        (MatchOutcome.EXACT, first),
        (MatchOutcome.UNCERTAIN, None),
        (MatchOutcome.EXACT, second),
    ]
    assert "student_number" in matches[2].reason
    assert "resident_id" in matches[2].reason
    assert matches[3].reason.startswith("student_number")
    for request, match in zip(requests, matches, strict=True):
        for value in (request.student_number, request.resident_id):
            assert not value or value not in match.reason
    # Each single match agrees with its batch answer.
    for request, match in zip(requests, matches, strict=True):
        if request.student_number or request.resident_id:
            single = await matcher.match(SERVICE, *astuple(request))
            assert single == match


async def test_a_batch_looks_up_once_however_many_requests(
    world: World, matcher: StudentMatcher
) -> None:
    first = by_name(world, "学生1")
    requests = [
        MatchRequest(first.student_number if n % 2 else "", resident_id(n % 5), "")
        for n in range(200)
    ]

    matches = await matcher.match_many(SERVICE, requests)

    assert len(matches) == 200
    assert world.units_opened == 1
    assert sorted(world.calls) == ["students.by_numbers", "students.by_resident_id_hashes"]


async def test_a_batch_with_nothing_to_look_up_asks_no_one(
    world: World, matcher: StudentMatcher
) -> None:
    assert await matcher.match_many(SERVICE, []) == []
    matches = await matcher.match_many(SERVICE, [MatchRequest(), MatchRequest("12345")])
    assert [m.outcome for m in matches] == [MatchOutcome.INVALID] * 2
    assert (world.units_opened, world.calls) == (0, [])


async def test_a_batch_is_for_services_and_at_most_500(matcher: StudentMatcher) -> None:
    with pytest.raises(PermissionDenied):
        await matcher.match_many(principal("city_admin", org_unit="360700"), [MatchRequest()])
    assert len(await matcher.match_many(SERVICE, [MatchRequest("", resident_id(1))] * 500)) == 500
    with pytest.raises(InvalidArgument) as too_many:
        await matcher.match_many(SERVICE, [MatchRequest("", resident_id(1))] * 501)
    assert too_many.value.field == "requests"
