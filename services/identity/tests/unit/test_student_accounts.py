"""Students' accounts without servers: login names, the account identity asks Keycloak for,
activation codes (keyed hash, expiry, single use, lock after wrong codes) and who may issue or
activate."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from identity.accounts.activation import (
    Batch,
    ClassAccounts,
    PendingStudent,
    StudentActivation,
)
from identity.domain.student_accounts import (
    CODE_ALPHABET,
    CODE_LENGTH,
    LOGIN_NAME,
    MAX_FAILED_ATTEMPTS,
    STUDENT_NAME,
    ActivationCodes,
    ActivationState,
    format_code,
    login_name,
    normalise_code,
    require_password,
    scope_kind,
    student_account,
)
from xinyu_core.auth import Principal
from xinyu_core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyu_core.testing import principal

SCHOOL = "3607020001"
CLASS = f"{SCHOOL}-2024-01"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PASSWORD = "Xinyu-Activate-2026!"
SCHOOL_ADMIN = principal("school_admin", org_unit=SCHOOL)
GATEWAY = Principal(
    subject="00000000-0000-4000-8000-0000000000aa",
    username="service-account-gateway",
    roles=frozenset({"service"}),
    org_unit="",
    client_id="gateway",
    token="unit-test-token",
)
CODES = ActivationCodes(b"unit-test-key-0123456789abcdef")


def test_login_names_say_nothing_about_the_child() -> None:
    name = login_name(SCHOOL, 42)
    assert name == "s3607020001-0042"
    assert LOGIN_NAME.match(name)
    assert LOGIN_NAME.match(login_name(SCHOOL, 123456))
    with pytest.raises(InvalidArgument):
        login_name("36070", 1)


def test_a_student_account_has_role_unit_group_and_no_name_or_email() -> None:
    account = student_account("s3607020001-0001", SCHOOL, f"/ganzhou/章贡区/{SCHOOL}")
    assert account.roles == frozenset({"student"})
    assert account.org_unit == SCHOOL
    assert account.email is None
    assert account.first_name == account.last_name == STUDENT_NAME
    assert account.group_path == f"/ganzhou/章贡区/{SCHOOL}"


def test_scopes() -> None:
    assert scope_kind("360700") == "city"
    assert scope_kind("360702") == "county"
    assert scope_kind(SCHOOL) == "school"
    with pytest.raises(InvalidArgument):
        scope_kind("36070x")


def test_codes_are_long_unambiguous_and_hashed_per_login_name() -> None:
    code = CODES.new_code()
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(CODE_ALPHABET)
    digest = CODES.digest("s3607020001-0001", code)
    assert code not in digest
    assert len(digest) == 64
    # As typed from the slip, in lower case with the dashes: still the same code.
    assert CODES.matches("s3607020001-0001", format_code(code).lower(), digest)
    assert not CODES.matches("s3607020001-0002", code, digest)
    assert normalise_code(" ab-cd ") == "ABCD"
    # Another key (another environment) gives another hash.
    assert ActivationCodes(b"another-key-0123456789abcdef").digest("s1", code) != digest


def test_password_rules_are_checked_before_keycloak() -> None:
    require_password(PASSWORD, "s3607020001-0001")
    for weak in (
        "short1!A",
        "nodigits-here-A!",
        "NO-LOWER-CASE-1!",
        "no-upper-case-1!",
        "NoSpecial12345",
    ):
        with pytest.raises(InvalidArgument):
            require_password(weak, "s3607020001-0001")
    with pytest.raises(InvalidArgument):
        require_password("S3607020001-0001-Aa!", "s3607020001-0001")


# --- activation with a fake store and directory ----------------------------------------------


class FakeStore:
    def __init__(self) -> None:
        self.pending = [
            PendingStudent(uuid4(), f"s{SCHOOL}-{n:04d}", f"学生{n}") for n in range(1, 4)
        ]
        self.states: dict[str, ActivationState] = {}
        self.batches: list[Batch] = []
        self.audited: list[tuple[str, str]] = []

    async def class_accounts(self, class_code: str) -> ClassAccounts | None:
        if class_code != CLASS:
            return None
        return ClassAccounts(SCHOOL, self.pending, without_account=2, already_activated=1)

    async def save_batch(
        self, principal: Principal, batch: Batch, hashes: Mapping[UUID, str]
    ) -> None:
        self.batches.append(batch)
        self.audited.append((principal.subject, "issued"))
        for student in self.pending:
            self.states[student.username] = ActivationState(
                student.username, hashes[student.student_id], batch.expires_at, None, 0, None
            )

    async def state(self, username: str) -> ActivationState | None:
        found = self.states.get(username)
        await asyncio.sleep(0)  # let concurrent requests all read before any of them writes
        return found

    async def reserve_attempt(self, username: str) -> bool:
        state = self.states[username]
        if state.failed_attempts >= MAX_FAILED_ATTEMPTS:
            return False
        self.states[username] = replace(state, failed_attempts=state.failed_attempts + 1)
        return True

    async def claim(self, username: str, code_hash: str, now: datetime) -> bool:
        state = self.states[username]
        if state.code_hash != code_hash or state.used_at is not None:
            return False
        self.states[username] = replace(state, used_at=now)
        return True

    async def release(self, username: str, code_hash: str) -> None:
        state = self.states[username]
        self.states[username] = replace(
            state, used_at=None, failed_attempts=max(state.failed_attempts - 1, 0)
        )

    async def activated(self, principal: Principal, username: str, now: datetime) -> None:
        self.states[username] = replace(self.states[username], activated_at=now, failed_attempts=0)
        self.audited.append((principal.subject, "activated"))


class FakeDirectory:
    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}
        self.refuse = False

    async def set_password(self, username: str, password: str) -> bool:
        if self.refuse:
            raise InvalidArgument("new_password", "the realm's password policy refused it")
        self.passwords[username] = password
        return True


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world() -> tuple[StudentActivation, FakeStore, FakeDirectory, Clock]:
    store, directory, clock = FakeStore(), FakeDirectory(), Clock()
    return StudentActivation(store, directory, CODES, clock=clock), store, directory, clock


World = tuple[StudentActivation, FakeStore, FakeDirectory, Clock]


async def test_the_school_admin_gets_one_code_per_pending_student_and_it_is_audited(
    world: World,
) -> None:
    activation, store, _, _ = world
    issued = await activation.issue(SCHOOL_ADMIN, CLASS)
    assert [s.login_name for s in issued.slips] == [p.username for p in store.pending]
    assert issued.without_account == 2
    assert issued.already_activated == 1
    assert issued.batch.expires_at == NOW + timedelta(days=14)
    assert store.audited == [(SCHOOL_ADMIN.subject, "issued")]
    for slip in issued.slips:
        assert slip.code not in store.states[slip.login_name].code_hash  # type: ignore[operator]


@pytest.mark.parametrize(
    "caller",
    [
        principal("school_admin", org_unit="3607030001"),
        principal("head_teacher", org_unit=SCHOOL),
        principal("county_admin", org_unit="360702"),
        GATEWAY,
    ],
)
async def test_only_the_class_schools_admin_may_issue(world: World, caller: Principal) -> None:
    activation, store, _, _ = world
    with pytest.raises(PermissionDenied):
        await activation.issue(caller, CLASS)
    assert not store.batches


async def test_issuing_for_an_unknown_class(world: World) -> None:
    with pytest.raises(NotFound):
        await world[0].issue(SCHOOL_ADMIN, f"{SCHOOL}-2024-99")


async def test_a_right_code_sets_the_password_once(world: World) -> None:
    activation, store, directory, _ = world
    slip = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    assert await activation.activate(GATEWAY, slip.login_name, slip.code, PASSWORD) == (
        slip.login_name
    )
    assert directory.passwords == {slip.login_name: PASSWORD}
    assert store.audited[-1] == (GATEWAY.subject, "activated")
    with pytest.raises(PermissionDenied):  # used
        await activation.activate(GATEWAY, slip.login_name, slip.code, PASSWORD)


async def test_wrong_expired_unknown_all_read_alike(world: World) -> None:
    activation, _, directory, clock = world
    slips = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips
    with pytest.raises(PermissionDenied) as wrong:
        await activation.activate(GATEWAY, slips[0].login_name, "AAAA-AAAA-AA", PASSWORD)
    with pytest.raises(PermissionDenied) as unknown:
        await activation.activate(GATEWAY, f"s{SCHOOL}-9999", slips[0].code, PASSWORD)
    clock.now = NOW + timedelta(days=15)
    with pytest.raises(PermissionDenied) as expired:
        await activation.activate(GATEWAY, slips[1].login_name, slips[1].code, PASSWORD)
    assert wrong.value.message == unknown.value.message == expired.value.message
    assert not directory.passwords


async def test_a_login_name_locks_after_wrong_codes_until_a_new_slip(world: World) -> None:
    activation, _, directory, _ = world
    slip = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    for _ in range(MAX_FAILED_ATTEMPTS):
        with pytest.raises(PermissionDenied):
            await activation.activate(GATEWAY, slip.login_name, "AAAA-AAAA-AA", PASSWORD)
    with pytest.raises(FailedPrecondition):  # even the right code now
        await activation.activate(GATEWAY, slip.login_name, slip.code, PASSWORD)
    fresh = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    await activation.activate(GATEWAY, fresh.login_name, fresh.code, PASSWORD)
    assert directory.passwords == {slip.login_name: PASSWORD}


async def test_a_new_slip_replaces_the_old_code(world: World) -> None:
    activation, _, _, _ = world
    old = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    await activation.issue(SCHOOL_ADMIN, CLASS)
    with pytest.raises(PermissionDenied):
        await activation.activate(GATEWAY, old.login_name, old.code, PASSWORD)


async def test_a_password_keycloak_refuses_leaves_the_code_usable(world: World) -> None:
    activation, _, directory, _ = world
    slip = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    directory.refuse = True
    with pytest.raises(InvalidArgument):
        await activation.activate(GATEWAY, slip.login_name, slip.code, PASSWORD)
    directory.refuse = False
    await activation.activate(GATEWAY, slip.login_name, slip.code, PASSWORD)


async def test_a_weak_password_is_refused_before_the_code_is_looked_at(world: World) -> None:
    activation, store, _, _ = world
    slip = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    with pytest.raises(InvalidArgument):
        await activation.activate(GATEWAY, slip.login_name, "AAAA", "weak")
    assert store.states[slip.login_name].failed_attempts == 0


@pytest.mark.parametrize(
    "caller",
    [
        SCHOOL_ADMIN,
        principal("student", org_unit=SCHOOL),
        replace(GATEWAY, client_id="archives"),
    ],
)
async def test_only_the_gateways_client_may_activate(world: World, caller: Principal) -> None:
    activation, _, directory, _ = world
    slip = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    with pytest.raises(PermissionDenied):
        await activation.activate(caller, slip.login_name, slip.code, PASSWORD)
    assert not directory.passwords


async def test_concurrent_guesses_cannot_exceed_the_limit(world: World) -> None:
    activation, store, _, _ = world
    slip = (await activation.issue(SCHOOL_ADMIN, CLASS)).slips[0]
    guesses = [
        activation.activate(GATEWAY, slip.login_name, f"AAAA-AAAA-{n:02d}", PASSWORD)
        for n in range(20)
    ]
    outcomes = await asyncio.gather(*guesses, return_exceptions=True)
    assert sum(isinstance(o, PermissionDenied) for o in outcomes) == MAX_FAILED_ATTEMPTS
    assert all(isinstance(o, PermissionDenied | FailedPrecondition) for o in outcomes)
    assert store.states[slip.login_name].failed_attempts == MAX_FAILED_ATTEMPTS
