"""Provisioning against the real local Keycloak: what identity writes shows up in the tokens
people get, a second sync writes nothing, a disabled account gets no token, the bulk path
is idempotent, and only the bulk client (not identity's own) may send a partial import. Every
account here has a per-run prefix and is deleted afterwards.

Clients and secrets come from the environment, else from infra/local/services.env, as the
local services get them (IDENTITY_KEYCLOAK__* and IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_*)."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from identity.adapters.keycloak import (
    BulkClientMissing,
    KeycloakAccountDirectory,
    KeycloakAdminSettings,
)
from identity.domain.accounts import DesiredAccount, sync
from xinyu_core.errors import InvalidArgument, PermissionDenied
from xinyu_core.settings import KeycloakSettings

pytestmark = pytest.mark.integration

SERVICES_ENV = Path(__file__).resolve().parents[4] / "infra" / "local" / "services.env"


def local_setting(name: str, default: str = "") -> str:
    """``name`` from the environment, else from infra/local/services.env, else ``default``."""
    if name in os.environ:
        return os.environ[name]
    for line in SERVICES_ENV.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == name and not line.lstrip().startswith("#"):
            return value
    return default


ISSUER = local_setting("IDENTITY_KEYCLOAK__ISSUER", "http://127.0.0.1:8180/realms/xinyu")
TOKEN_URL = f"{ISSUER}/protocol/openid-connect/token"
SERVER, _, REALM = ISSUER.rpartition("/realms/")
PARTIAL_IMPORT_URL = f"{SERVER}/admin/realms/{REALM}/partialImport"
CLIENT_ID = local_setting("IDENTITY_KEYCLOAK__CLIENT_ID")
CLIENT_SECRET = local_setting("IDENTITY_KEYCLOAK__CLIENT_SECRET")
BULK_CLIENT_ID = local_setting("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID")
BULK_CLIENT_SECRET = local_setting("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET")
# Set through the admin API in these tests only; identity never gives anyone a password.
PASSWORD = "Zz-Provision-2026!"
SCHOOL = "3607020001"
SCHOOL_GROUP = "/ganzhou/章贡区/3607020001"
COUNTY = "360702"
COUNTY_GROUP = "/ganzhou/章贡区"


def keycloak_settings() -> KeycloakSettings:
    """identity's own client: single accounts only, no manage-realm."""
    return KeycloakSettings(
        issuer=ISSUER, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
    )


def admin_settings(*, bulk: bool = True) -> KeycloakAdminSettings:
    """With the bulk client (identity-bulk) or explicitly without it, whatever the env says."""
    return KeycloakAdminSettings(
        bulk_client_id=BULK_CLIENT_ID if bulk else "",
        bulk_client_secret=SecretStr(BULK_CLIENT_SECRET if bulk else ""),
    )


@pytest.fixture
def prefix() -> str:
    return f"zz-kcprov-{uuid.uuid4().hex[:8]}-"


@pytest.fixture
async def directory(prefix: str) -> AsyncIterator[KeycloakAccountDirectory]:
    found = KeycloakAccountDirectory.from_settings(keycloak_settings(), admin_settings())
    try:
        yield found
    finally:
        await found.delete_by_prefix(prefix)
        await found.aclose()


def person(prefix: str, n: int = 1, **changes: Any) -> DesiredAccount:
    fields: dict[str, Any] = {
        "username": f"{prefix}{n:05d}",
        "first_name": f"老师{n:05d}",
        "last_name": "测试",
        "org_unit": SCHOOL,
        "roles": frozenset({"head_teacher", "psych_teacher"}),
        # Staff have an e-mail; the realm no longer requires one (students have none).
        "email": f"{prefix}{n:05d}@example.invalid",
        "group_path": SCHOOL_GROUP,
    }
    return DesiredAccount(**(fields | changes))


def student(prefix: str, n: int, **changes: Any) -> DesiredAccount:
    """A student as a roster import provisions one: no e-mail, no password."""
    fields = {"first_name": f"学生{n:05d}", "roles": frozenset({"student"}), "email": None}
    return person(prefix, n, **(fields | changes))


async def token(username: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            TOKEN_URL,
            data={
                "grant_type": "password",
                "client_id": "xinyu-cli",
                "client_secret": "dev-kc-cli",
                "username": username,
                "password": PASSWORD,
            },
        )


async def claims(username: str) -> dict[str, Any]:
    answer = await token(username)
    assert answer.status_code == 200, answer.text
    payload = answer.json()["access_token"].split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


async def set_password(directory: KeycloakAccountDirectory, username: str) -> None:
    actual = await directory.get(username)
    assert actual is not None
    await directory.admin.a_set_user_password(actual.id, PASSWORD, temporary=False)


async def test_created_account_gets_a_token_with_its_roles_and_org_unit(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    want = person(prefix)
    change = await sync(directory, want)
    assert change.create
    actual = await directory.get(want.username)
    assert actual is not None
    assert actual.group_paths == {SCHOOL_GROUP}
    assert actual.roles >= {"head_teacher", "psych_teacher"}
    assert (actual.first_name, actual.last_name, actual.email) == (
        want.first_name,
        want.last_name,
        want.email,
    )

    await set_password(directory, want.username)
    got = await claims(want.username)
    assert {"head_teacher", "psych_teacher"} <= set(got["realm_access"]["roles"])
    assert got["org_unit"] == SCHOOL


async def test_changed_roles_and_org_unit_reach_the_next_token(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    await sync(directory, person(prefix))
    await set_password(directory, person(prefix).username)
    before = await claims(person(prefix).username)
    assert before["org_unit"] == SCHOOL

    moved = person(
        prefix, roles=frozenset({"county_counsellor"}), org_unit=COUNTY, group_path=COUNTY_GROUP
    )
    change = await sync(directory, moved)
    assert change.roles_added == {"county_counsellor"}
    assert change.roles_removed == {"head_teacher", "psych_teacher"}
    assert change.org_unit_changed
    assert change.groups_joined == {COUNTY_GROUP}
    assert change.groups_left == {SCHOOL_GROUP}

    after = await claims(moved.username)
    roles = set(after["realm_access"]["roles"])
    assert "county_counsellor" in roles
    assert not roles & {"head_teacher", "psych_teacher"}
    assert after["org_unit"] == COUNTY
    # The representation update sent every profile field: nothing was wiped on the way.
    assert after["email"] == moved.email
    assert after["given_name"] == moved.first_name


async def test_second_sync_writes_nothing(directory: KeycloakAccountDirectory, prefix: str) -> None:
    want = person(prefix)
    await sync(directory, want)
    changed = person(prefix, roles=frozenset({"school_admin"}), first_name="新名")
    assert not (await sync(directory, changed)).is_empty
    writes, reads = directory.calls.writes, directory.calls.reads
    again = await sync(directory, changed)
    assert again.is_empty
    assert directory.calls.writes == writes
    assert directory.calls.reads > reads


async def test_disabled_account_gets_no_token(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    want = person(prefix)
    await sync(directory, want)
    await set_password(directory, want.username)
    assert (await token(want.username)).status_code == 200

    assert await directory.disable(want.username)
    refused = await token(want.username)
    assert refused.status_code in (400, 401)
    assert refused.json()["error"] == "invalid_grant"

    writes = directory.calls.writes
    assert await directory.disable(want.username)  # already disabled: nothing to write
    assert directory.calls.writes == writes
    assert not await directory.disable(f"{prefix}nobody")

    # A sync that wants the account enabled (a returning person) lets them in again.
    assert (await sync(directory, want)).enable is True
    assert (await token(want.username)).status_code == 200


async def test_student_without_email_logs_in(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    """The realm's user profile does not require an e-mail (students have none; decision
    0013), so Keycloak's verify-profile step lets a password login without one through."""
    pupil = student(prefix, 1)
    await sync(directory, pupil)
    await set_password(directory, pupil.username)
    assert (await token(pupil.username)).status_code == 200


async def test_bulk_upsert_is_idempotent(directory: KeycloakAccountDirectory, prefix: str) -> None:
    students = [student(prefix, n) for n in range(300)]
    first = await directory.bulk_upsert(students)
    assert sorted(first.created) == sorted(s.username for s in students)
    assert not first.failed

    sample = await directory.get(students[123].username)
    assert sample is not None
    assert sample.roles == {"student", "default-roles-xinyu"}
    assert sample.org_unit == SCHOOL
    assert sample.group_paths == {SCHOOL_GROUP}
    assert sample.email is None

    writes = directory.calls.writes
    second = await directory.bulk_upsert(students)
    assert not second.created
    assert sorted(second.unchanged) == sorted(s.username for s in students)
    batches = -(-len(students) // KeycloakAdminSettings().bulk_batch_size)
    assert directory.calls.writes - writes == batches  # the imports only, no per-user write

    # Without reconciling, existing accounts are only reported.
    third = await directory.bulk_upsert(students[:10], reconcile_existing=False)
    assert sorted(third.skipped) == sorted(s.username for s in students[:10])

    # A changed roster: five newcomers, and student 7 moved to the county's own roll.
    moved = [student(prefix, n) for n in range(300, 305)]
    moved.append(student(prefix, 7, org_unit=COUNTY, group_path=COUNTY_GROUP))
    fourth = await directory.bulk_upsert(moved)
    assert len(fourth.created) == 5
    assert fourth.updated == [students[7].username]
    seventh = await directory.get(students[7].username)
    assert seventh is not None
    assert seventh.org_unit == COUNTY
    assert seventh.group_paths == {COUNTY_GROUP}


async def test_bulk_upsert_isolates_bad_accounts(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    group = f"{SCHOOL_GROUP[: SCHOOL_GROUP.rindex('/')]}/{prefix}school"
    await directory.ensure_group(group, {"code": "3607029998", "level": "school"})
    good = [person(prefix, n, roles=frozenset({"student"})) for n in range(10)]
    doomed = person(prefix, 10, roles=frozenset({"student"}), group_path=group)
    unknown_group = person(prefix, 11, group_path=f"{COUNTY_GROUP}/{prefix}nowhere")
    twice = person(prefix, 12)
    # An e-mail another account already has: Keycloak's import skips it as "existing".
    await sync(directory, person(prefix, 13))
    clash = person(prefix, 14, email=person(prefix, 13).email)

    # The group vanishes after this directory looked it up: Keycloak then fails the whole
    # import transaction, and the batch is split until the bad account stands alone.
    other = KeycloakAccountDirectory.from_settings(keycloak_settings())
    try:
        await other.delete_group(group)
    finally:
        await other.aclose()

    report = await directory.bulk_upsert(
        [*good[:5], doomed, twice, *good[5:], unknown_group, twice, clash]
    )
    assert sorted(report.created) == sorted(a.username for a in good)
    assert set(report.failed) == {
        doomed.username,
        unknown_group.username,
        twice.username,
        clash.username,
    }
    assert "e-mail" in report.failed[clash.username]
    assert "group" in report.failed[unknown_group.username]
    assert await directory.get(doomed.username) is None
    assert await directory.get(clash.username) is None


async def client_token(client_id: str, secret: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            TOKEN_URL,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def decoded(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    found: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return found


async def partial_import(bearer: str, username: str) -> httpx.Response:
    """One student through the realm's partial import, as the bearer of ``bearer``."""
    user = {
        "username": username,
        "firstName": "学生00001",
        "lastName": "测试",
        "enabled": True,
        "attributes": {"org_unit": [SCHOOL]},
        "realmRoles": ["default-roles-xinyu", "student"],
    }
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            PARTIAL_IMPORT_URL,
            json={"ifResourceExists": "SKIP", "users": [user]},
            headers={"Authorization": f"Bearer {bearer}"},
        )


async def test_only_the_bulk_client_may_partial_import(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    """identity's own client (the serving process) lost manage-realm: Keycloak refuses its
    partial import with 403; identity-bulk, which has it, imports. identity keeps the realm
    role `service` it needs for platform RPCs; identity-bulk lacks it, so its tokens open none."""
    assert (CLIENT_ID, BULK_CLIENT_ID) == ("identity", "identity-bulk")
    username = f"{prefix}00001"

    own = await client_token(CLIENT_ID, CLIENT_SECRET)
    own_claims = decoded(own)
    own_admin = set(own_claims["resource_access"]["realm-management"]["roles"])
    assert "manage-realm" not in own_admin
    assert {"manage-users", "view-users", "query-users", "query-groups", "view-realm"} <= own_admin
    assert "service" in own_claims["realm_access"]["roles"]
    refused = await partial_import(own, username)
    assert refused.status_code == 403, refused.text
    assert await directory.get(username) is None

    bulk = await client_token(BULK_CLIENT_ID, BULK_CLIENT_SECRET)
    bulk_claims = decoded(bulk)
    assert "manage-realm" in bulk_claims["resource_access"]["realm-management"]["roles"]
    assert "service" not in bulk_claims["realm_access"]["roles"]
    imported = await partial_import(bulk, username)
    assert imported.status_code == 200, imported.text
    assert [r["action"] for r in imported.json()["results"]] == ["ADDED"]
    created = await directory.get(username)
    assert created is not None
    assert created.roles == {"default-roles-xinyu", "student"}


async def test_bulk_upsert_refuses_without_the_bulk_client(prefix: str) -> None:
    without = KeycloakAccountDirectory.from_settings(
        keycloak_settings(), admin_settings(bulk=False)
    )
    try:
        assert not without.can_bulk
        with pytest.raises(BulkClientMissing) as refused:
            await without.bulk_upsert([student(prefix, 1)])
        assert "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID" in refused.value.message
        assert "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET" in refused.value.message
        assert (without.calls.reads, without.calls.writes) == (0, 0)  # refused before asking
        assert await without.get(student(prefix, 1).username) is None
    finally:
        await without.aclose()


async def test_bulk_upsert_as_identitys_own_client_is_denied(
    directory: KeycloakAccountDirectory, prefix: str
) -> None:
    """Were identity's client wired in as the bulk client (only possible by hand: from_settings
    refuses it), Keycloak's 403 stops the run with an error that says what the bulk client
    needs, and nothing is created."""
    with pytest.raises(InvalidArgument, match="must be a client of its own"):
        KeycloakAccountDirectory.from_settings(
            keycloak_settings(),
            KeycloakAdminSettings(
                bulk_client_id=CLIENT_ID, bulk_client_secret=SecretStr(CLIENT_SECRET)
            ),
        )
    by_hand = KeycloakAccountDirectory(
        directory.admin, admin_settings(), bulk_admin=directory.admin
    )
    with pytest.raises(PermissionDenied, match="manage-realm"):
        await by_hand.bulk_upsert([student(prefix, n) for n in range(3)])
    assert await directory.get(student(prefix, 0).username) is None


async def test_identity_cannot_take_manage_realm_another_way() -> None:
    """The split holds only if `identity` (manage-users) cannot reach manage-realm through the
    users it manages: Keycloak refuses it mapping an admin role it does not hold (even to its own
    service account) and setting a password on identity-bulk's service account."""
    own = await client_token(CLIENT_ID, CLIENT_SECRET)
    admin = f"{SERVER}/admin/realms/{REALM}"
    async with httpx.AsyncClient(
        base_url=admin, headers={"Authorization": f"Bearer {own}"}, timeout=30
    ) as http:

        async def user_id(username: str) -> str:
            found = await http.get("/users", params={"username": username, "exact": "true"})
            assert found.status_code == 200, found.text
            return str(found.json()[0]["id"])

        own_id = await user_id(f"service-account-{CLIENT_ID}")
        bulk_id = await user_id(f"service-account-{BULK_CLIENT_ID}")
        mappings = (await http.get(f"/users/{bulk_id}/role-mappings")).json()
        realm_management = mappings["clientMappings"]["realm-management"]
        manage_realm = [
            {"id": r["id"], "name": r["name"]}
            for r in realm_management["mappings"]
            if r["name"] == "manage-realm"
        ]
        assert manage_realm
        granted = await http.post(
            f"/users/{own_id}/role-mappings/clients/{realm_management['id']}", json=manage_realm
        )
        assert granted.status_code == 403, granted.text

        password = await http.put(
            f"/users/{bulk_id}/reset-password",
            json={"type": "password", "value": PASSWORD, "temporary": False},
        )
        assert password.status_code in (400, 403), password.text
