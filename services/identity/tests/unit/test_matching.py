"""An outside report's student: only agreement matches; anything else is for a person."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.matching import MatchOutcome, StudentMatcher
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
