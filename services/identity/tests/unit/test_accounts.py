"""Desired account state and the plan that reconciles Keycloak with it (no Keycloak here)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import pytest

from identity.domain.accounts import (
    AccountPlan,
    ActualAccount,
    BulkReport,
    DesiredAccount,
    managed_groups,
    plan,
    sync,
)
from xinyu_core.errors import AlreadyExists, InvalidArgument

SCHOOL = "3607020001"
SCHOOL_GROUP = "/ganzhou/章贡区/3607020001"
COUNTY_GROUP = "/ganzhou/章贡区"


def desired(**changes: object) -> DesiredAccount:
    base = DesiredAccount(
        username="t-teacher-0001",
        first_name="老师",
        last_name="测试",
        org_unit=SCHOOL,
        roles=frozenset({"head_teacher"}),
        email="t-teacher-0001@example.invalid",
        group_path=SCHOOL_GROUP,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def actual_of(account: DesiredAccount, **changes: object) -> ActualAccount:
    """What Keycloak holds once ``account`` was provisioned (plus the realm's default role)."""
    base = ActualAccount(
        id="kc-1",
        username=account.username,
        first_name=account.first_name,
        last_name=account.last_name,
        email=account.email,
        enabled=account.enabled,
        org_unit=account.org_unit,
        roles=account.roles | {"default-roles-xinyu"},
        group_paths=frozenset({account.group_path}) if account.group_path else frozenset(),
        attributes={"org_unit": (account.org_unit,)},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class FakeDirectory:
    """Keycloak as a dict, applying plans the way the adapter does, and counting writes."""

    def __init__(self) -> None:
        self.accounts: dict[str, ActualAccount] = {}
        self.writes = 0
        self.race: ActualAccount | None = None

    async def get(self, username: str) -> ActualAccount | None:
        return self.accounts.get(username)

    async def create(self, account: DesiredAccount) -> ActualAccount:
        if self.race is not None:
            # Another writer got there between our read and our create.
            self.accounts[account.username], self.race = self.race, None
        if account.username in self.accounts:
            raise AlreadyExists("exists")
        self.writes += 1
        created = actual_of(account, id=f"kc-{len(self.accounts) + 1}")
        self.accounts[account.username] = created
        return created

    async def update(self, change: AccountPlan) -> None:
        assert change.actual is not None
        self.accounts[change.desired.username] = apply(change)
        self.writes += 1

    async def disable(self, username: str) -> bool:
        found = self.accounts.get(username)
        if found is None:
            return False
        if found.enabled:
            self.accounts[username] = replace(found, enabled=False)
            self.writes += 1
        return True

    async def bulk_upsert(
        self, accounts: Sequence[DesiredAccount], *, reconcile_existing: bool = True
    ) -> BulkReport:
        report = BulkReport()
        for account in accounts:
            change = await sync(self, account)
            (report.created if change.create else report.updated).append(account.username)
        return report


def apply(change: AccountPlan) -> ActualAccount:
    """The state after an update, as Keycloak would have it."""
    assert change.actual is not None
    before, want = change.actual, change.desired
    return replace(
        before,
        first_name=want.first_name,
        last_name=want.last_name,
        email=want.email if want.email is not None else before.email,
        enabled=want.enabled,
        org_unit=want.org_unit,
        roles=(before.roles | change.roles_added) - change.roles_removed,
        group_paths=(before.group_paths | change.groups_joined) - change.groups_left,
    )


# --- the desired state refuses what Keycloak would mis-store --------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "Upper.Case"}, "username"),
        ({"username": "ab"}, "username"),
        ({"username": "has space"}, "username"),
        ({"first_name": " "}, "first_name"),
        ({"last_name": "<script>"}, "last_name"),
        ({"org_unit": "36070"}, "org_unit"),
        ({"org_unit": "Police-360702"}, "org_unit"),
        ({"roles": frozenset({"head_teacher", "typo_role"})}, "roles"),
        ({"roles": frozenset({"service"})}, "roles"),
        ({"email": "not-an-email"}, "email"),
        ({"group_path": "/elsewhere/x"}, "group_path"),
        ({"group_path": "/ganzhou//x"}, "group_path"),
    ],
)
def test_desired_account_refuses(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        desired(**changes)
    assert caught.value.field == field


@pytest.mark.parametrize("org_unit", ["360700", "360702", "3607020001", "police-360702"])
def test_org_unit_kinds(org_unit: str) -> None:
    assert desired(org_unit=org_unit).org_unit == org_unit


def test_email_is_lower_cased_and_roles_become_a_frozenset() -> None:
    account = desired(email="Mixed@Example.Invalid", roles=["student"])
    assert account.email == "mixed@example.invalid"
    assert account.roles == frozenset({"student"})


# --- plan: every kind of change -------------------------------------------------------------


def test_missing_account_is_created_with_roles_and_group() -> None:
    change = plan(desired(), None)
    assert change.create
    assert change.account_id is None
    assert change.roles_added == {"head_teacher"}
    assert change.groups_joined == {SCHOOL_GROUP}
    assert not change.is_empty


def test_account_as_desired_needs_nothing() -> None:
    account = desired()
    change = plan(account, actual_of(account))
    assert change.is_empty
    assert change.summary() == "nothing"


def test_roles_added_and_removed() -> None:
    account = desired(roles=frozenset({"head_teacher", "psych_teacher"}))
    change = plan(account, actual_of(account, roles=frozenset({"head_teacher", "school_admin"})))
    assert change.roles_added == {"psych_teacher"}
    assert change.roles_removed == {"school_admin"}
    assert not change.updates_representation


def test_roles_identity_does_not_manage_are_left_alone() -> None:
    account = desired()
    held = account.roles | {"default-roles-xinyu", "offline_access", "uma_authorization"}
    assert plan(account, actual_of(account, roles=held)).is_empty


def test_service_role_is_taken_from_a_person() -> None:
    account = desired()
    change = plan(account, actual_of(account, roles=account.roles | {"service"}))
    assert change.roles_removed == {"service"}


def test_org_unit_changed() -> None:
    account = desired(org_unit="360702", group_path=COUNTY_GROUP)
    change = plan(account, actual_of(desired()))
    assert change.org_unit_changed
    assert change.updates_representation
    assert change.groups_joined == {COUNTY_GROUP}
    assert change.groups_left == {SCHOOL_GROUP}
    assert "org_unit 3607020001 -> 360702" in change.summary()


def test_missing_org_unit_is_set() -> None:
    account = desired()
    assert plan(account, actual_of(account, org_unit=None)).org_unit_changed


def test_names_and_email_changed() -> None:
    account = desired()
    change = plan(
        account, actual_of(account, first_name="旧", email="old@example.invalid", last_name=None)
    )
    assert change.profile_changes == {"first_name", "last_name", "email"}
    assert not change.org_unit_changed


def test_email_not_managed_keeps_what_keycloak_has() -> None:
    account = desired(email=None)
    assert plan(account, actual_of(account, email="typed-at-login@example.invalid")).is_empty


def test_email_compared_case_insensitively() -> None:
    account = desired()
    assert plan(account, actual_of(account, email=account.email.upper())).is_empty  # type: ignore[union-attr]


def test_disable_and_enable() -> None:
    account = desired()
    disabled = plan(replace(account, enabled=False), actual_of(account))
    assert disabled.enable is False
    assert disabled.summary() == "disable"
    enabled = plan(account, actual_of(account, enabled=False))
    assert enabled.enable is True


def test_department_account_leaves_the_tree_but_keeps_other_groups() -> None:
    account = desired(
        org_unit="police-360702", roles=frozenset({"police_officer"}), group_path=None
    )
    held = frozenset({SCHOOL_GROUP, "/hand-made"})
    change = plan(account, actual_of(desired(), group_paths=held))
    assert change.groups_left == {SCHOOL_GROUP}
    assert not change.groups_joined
    assert managed_groups(held) == {SCHOOL_GROUP}


def test_plan_refuses_two_different_accounts() -> None:
    with pytest.raises(InvalidArgument):
        plan(desired(), actual_of(desired(username="someone-else")))


def test_summary_names_no_person() -> None:
    account = desired()
    change = plan(account, actual_of(account, first_name="旧名", email="old@example.invalid"))
    text = change.summary() + plan(account, None).summary()
    for personal in (account.username, account.first_name, "旧名", "old@example.invalid"):
        assert personal not in text


# --- idempotence ----------------------------------------------------------------------------

VARIANTS: list[dict[str, object]] = [
    {},
    {"roles": frozenset({"psych_teacher", "head_teacher"})},
    {"roles": frozenset()},
    {"org_unit": "360702", "group_path": COUNTY_GROUP},
    {"org_unit": "police-360702", "group_path": None},
    {"enabled": False},
    {"email": None},
    {"first_name": "新名"},
]


@pytest.mark.parametrize(
    ("want", "have"), list(itertools.product(range(len(VARIANTS)), range(len(VARIANTS))))
)
def test_applying_a_plan_then_planning_again_yields_nothing(want: int, have: int) -> None:
    target = desired(**VARIANTS[want])
    current = actual_of(desired(**VARIANTS[have]))
    change = plan(target, current)
    assert plan(target, apply(change)).is_empty
    # An unmanaged e-mail (None) accepts whatever Keycloak has, so only the base variant, which
    # differs from it in nothing else, already matches it.
    unmanaged_email_matches = VARIANTS[want] == {"email": None} and have == 0
    assert change.is_empty == (want == have or unmanaged_email_matches)


async def test_sync_twice_writes_once() -> None:
    directory = FakeDirectory()
    first = await sync(directory, desired())
    assert first.create
    moved = desired(roles=frozenset({"psych_teacher"}), org_unit="360702", group_path=COUNTY_GROUP)
    second = await sync(directory, moved)
    assert second.roles_added == {"psych_teacher"}
    assert second.roles_removed == {"head_teacher"}
    assert second.org_unit_changed
    writes = directory.writes
    assert (await sync(directory, moved)).is_empty
    assert directory.writes == writes


async def test_sync_that_loses_a_create_race_updates_instead() -> None:
    directory = FakeDirectory()
    account = desired()
    directory.race = actual_of(account, roles=frozenset({"school_admin"}))
    change = await sync(directory, account)
    assert not change.create
    assert change.roles_added == {"head_teacher"}
    assert change.roles_removed == {"school_admin"}
    assert directory.accounts[account.username].roles & {"head_teacher", "school_admin"} == {
        "head_teacher"
    }


async def test_sync_conflict_with_no_such_username_is_an_email_clash() -> None:
    class EmailTaken(FakeDirectory):
        async def create(self, account: DesiredAccount) -> ActualAccount:
            raise AlreadyExists("same e-mail")

    with pytest.raises(AlreadyExists, match="e-mail"):
        await sync(EmailTaken(), desired())


def test_bulk_report_total() -> None:
    report = BulkReport(created=["a"], updated=["b"], unchanged=["c"], skipped=["d"])
    report.failed["e"] = "why"
    assert report.total == 5
