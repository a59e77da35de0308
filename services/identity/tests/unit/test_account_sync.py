"""Account sync: the desired Keycloak account from identity's records, and the sync requests the
use cases record with every change that can alter it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from identity_fakes import World, units_for

from identity.domain.account_state import AccountHome, desired_account, split_name
from identity.domain.accounts import require_grantable
from identity.domain.model import (
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
)
from identity.domain.people import People
from xinyu_core.errors import InvalidArgument, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
COUNTY = "360702"
CLASS = f"{SCHOOL}-2024-01"
SCHOOL_ADMIN = principal("school_admin", org_unit=SCHOOL)
HOME = AccountHome(SCHOOL, f"/ganzhou/章贡区/{SCHOOL}")
DAY = date(2026, 10, 1)


def teacher(roles: tuple[str, ...] = ()) -> Person:
    return Person(
        uuid4(), PersonKind.STAFF, "li.teacher", "李老师", home_unit_code=SCHOOL, roles=roles
    )


def lead(person: Person, valid_to: date | None = None) -> Relationship:
    return Relationship(
        uuid4(),
        person.person_id,
        RelationshipKind.HEAD_TEACHER_OF,
        date(2026, 9, 1),
        class_code=CLASS,
        valid_to=valid_to,
    )


def test_roles_come_from_the_person_and_their_active_relationships() -> None:
    person = teacher(roles=("school_admin",))
    psych = Relationship(
        uuid4(),
        person.person_id,
        RelationshipKind.PSYCH_TEACHER_OF,
        date(2026, 9, 1),
        school_code=SCHOOL,
    )
    account = desired_account(person, [lead(person), psych], DAY, HOME)
    assert account is not None
    assert account.roles == {"school_admin", "head_teacher", "psych_teacher"}
    assert (account.username, account.org_unit, account.group_path) == (
        "li.teacher",
        SCHOOL,
        f"/ganzhou/章贡区/{SCHOOL}",
    )
    assert account.email is None  # identity does not manage e-mails


def test_an_ended_relationship_drops_its_role() -> None:
    person = teacher()
    ended = lead(person, valid_to=date(2026, 9, 30))
    account = desired_account(person, [ended], DAY, HOME)
    assert account is not None
    assert account.roles == frozenset()
    still = desired_account(person, [ended], date(2026, 9, 15), HOME)
    assert still is not None
    assert still.roles == {"head_teacher"}


def test_a_guardian_without_a_child_gets_no_account() -> None:
    guardian = Person(uuid4(), PersonKind.GUARDIAN, "lin.parent", "林家长")
    assert desired_account(guardian, [], DAY, None) is None
    child = Relationship(
        uuid4(),
        guardian.person_id,
        RelationshipKind.GUARDIAN_OF,
        date(2026, 9, 1),
        student_id=uuid4(),
    )
    account = desired_account(guardian, [child], DAY, HOME)
    assert account is not None
    assert account.roles == {"guardian"}
    assert account.org_unit == SCHOOL


def test_names_split_family_name_first() -> None:
    assert split_name("李老师") == ("老师", "李")
    assert split_name("王 小明") == ("小明", "王")
    assert split_name("赵") == ("赵", "赵")
    account = desired_account(teacher(), [], DAY, HOME)
    assert account is not None
    assert (account.last_name, account.first_name) == ("李", "老师")


def test_explicit_roles_are_realm_roles_the_caller_may_grant() -> None:
    assert require_grantable(["school_admin"], {"school_admin"}) == ("school_admin",)
    assert require_grantable(["county_counsellor"], {"county_admin"}) == ("county_counsellor",)
    with pytest.raises(PermissionDenied):
        require_grantable(["county_admin"], {"school_admin"})
    with pytest.raises(PermissionDenied):
        require_grantable(["city_admin"], {"county_admin"})
    with pytest.raises(InvalidArgument):
        require_grantable(["superuser"], {"city_admin"})
    with pytest.raises(InvalidArgument):
        require_grantable(["head_teacher"], {"city_admin"})  # implied by head_teacher_of
    with pytest.raises(InvalidArgument):
        Person(uuid4(), PersonKind.GUARDIAN, "lin.parent", "林家长", roles=("school_admin",))


@pytest.fixture
def world() -> World:
    w = World()
    w.schools[SCHOOL] = School(SCHOOL, "示范学校", COUNTY, SchoolType.NINE_YEAR, 900)
    w.classes[CLASS] = SchoolClass.of(SCHOOL, 2024, 1)
    return w


async def test_register_assign_and_end_request_a_sync(world: World) -> None:
    people = People(units_for(world), clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))
    person, created = await people.register(
        SCHOOL_ADMIN, PersonKind.STAFF, "li.teacher", "李老师", home_unit_code=SCHOOL
    )
    assert created
    assert world.sync_requests == {person.person_id: 1}
    relationship, _ = await people.assign(SCHOOL_ADMIN, lead(person))
    assert world.sync_requests[person.person_id] == 2
    await people.end(SCHOOL_ADMIN, str(relationship.relationship_id), date(2026, 10, 2))
    assert world.sync_requests[person.person_id] == 3


async def test_registering_again_sets_the_explicit_roles(world: World) -> None:
    people = People(units_for(world))
    person, _ = await people.register(
        SCHOOL_ADMIN, PersonKind.STAFF, "zhao.head", "赵校长", home_unit_code=SCHOOL
    )
    again, created = await people.register(
        SCHOOL_ADMIN,
        PersonKind.STAFF,
        "zhao.head",
        "赵校长",
        home_unit_code=SCHOOL,
        roles=["school_admin"],
    )
    assert not created
    assert again.roles == ("school_admin",)
    assert world.people[person.person_id].roles == ("school_admin",)
    assert world.sync_requests[person.person_id] == 2
    with pytest.raises(PermissionDenied):
        await people.register(
            SCHOOL_ADMIN,
            PersonKind.STAFF,
            "zhao.head",
            "赵校长",
            home_unit_code=SCHOOL,
            roles=["county_admin"],
        )
    assert world.people[person.person_id].roles == ("school_admin",)
