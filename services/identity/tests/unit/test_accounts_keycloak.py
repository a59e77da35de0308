"""The Keycloak adapter's pure parts: endpoints, representations, error mapping, the pool."""

from __future__ import annotations

import asyncio

import pytest
from keycloak.exceptions import (
    KeycloakConnectionError,
    KeycloakError,
    KeycloakGetError,
    KeycloakPostError,
)
from pydantic import SecretStr

from identity.adapters.keycloak import (
    BulkClientMissing,
    KeycloakAccountDirectory,
    KeycloakAdminSettings,
    KeycloakUnreachable,
    admin_endpoint,
)
from identity.adapters.keycloak.directory import (
    BULK_DENIED,
    _import_representation,
    _pool,
    _translate,
    _update,
)
from identity.domain.accounts import ActualAccount, DesiredAccount
from xinyu_core.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from xinyu_core.settings import KeycloakSettings

ACCOUNT = DesiredAccount(
    username="t-student-0001",
    first_name="学生00001",
    last_name="测试",
    org_unit="3607020001",
    roles=frozenset({"student"}),
    group_path="/ganzhou/章贡区/3607020001",
)


def test_admin_endpoint_comes_from_the_issuer() -> None:
    assert admin_endpoint("http://127.0.0.1:8180/realms/xinyu") == (
        "http://127.0.0.1:8180/",
        "xinyu",
    )
    assert admin_endpoint("https://sso.example.invalid/auth/realms/xinyu/") == (
        "https://sso.example.invalid/auth/",
        "xinyu",
    )
    with pytest.raises(InvalidArgument):
        admin_endpoint("http://127.0.0.1:8180/xinyu")


def test_settings_read_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_KEYCLOAK_ADMIN__BULK_BATCH_SIZE", "25")
    monkeypatch.setenv("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID", "identity-bulk")
    settings = KeycloakAdminSettings()
    assert settings.bulk_batch_size == 25
    assert settings.bulk_client_id == "identity-bulk"
    assert settings.bulk_concurrency == 3


IDENTITY = KeycloakSettings(client_id="identity", client_secret=SecretStr("dev-kc-identity"))


def bulk_settings(client_id: str, secret: str) -> KeycloakAdminSettings:
    return KeycloakAdminSettings(bulk_client_id=client_id, bulk_client_secret=SecretStr(secret))


@pytest.mark.parametrize(
    ("client_id", "secret", "named"),
    [
        ("identity-bulk", "", "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET"),
        ("", "dev-kc-identity-bulk", "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID"),
        ("identity", "dev-kc-identity", "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID"),
    ],
)
def test_a_half_set_or_borrowed_bulk_client_is_refused_naming_the_setting(
    client_id: str, secret: str, named: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        KeycloakAccountDirectory.from_settings(IDENTITY, bulk_settings(client_id, secret))
    assert refused.value.field == named


async def test_bulk_upsert_without_the_bulk_client_names_the_missing_settings() -> None:
    directory = KeycloakAccountDirectory.from_settings(IDENTITY, bulk_settings("", ""))
    try:
        assert not directory.can_bulk
        with pytest.raises(BulkClientMissing) as refused:
            await directory.bulk_upsert([ACCOUNT])  # refused before any request: no Keycloak
        assert "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID" in refused.value.message
        assert "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET" in refused.value.message
        assert (directory.calls.reads, directory.calls.writes) == (0, 0)
    finally:
        await directory.aclose()


def test_with_the_bulk_client_the_directory_can_bulk() -> None:
    directory = KeycloakAccountDirectory.from_settings(
        IDENTITY, bulk_settings("identity-bulk", "dev-kc-identity-bulk")
    )
    assert directory.can_bulk


def test_import_representation_lists_the_default_role_and_the_group() -> None:
    rep = _import_representation(ACCOUNT, "default-roles-xinyu")
    assert rep["realmRoles"] == ["default-roles-xinyu", "student"]
    assert rep["groups"] == ["/ganzhou/章贡区/3607020001"]
    assert rep["attributes"] == {"org_unit": ["3607020001"]}
    assert "email" not in rep
    assert "credentials" not in rep  # no password from a roster


def test_update_sends_every_profile_field_and_keeps_other_attributes() -> None:
    actual = ActualAccount(
        id="kc-1",
        username=ACCOUNT.username,
        first_name="旧",
        last_name="测试",
        email="typed-at-login@example.invalid",
        enabled=True,
        org_unit="360702",
        attributes={"org_unit": ("360702",), "locale": ("zh-CN",)},
    )
    rep = _update(ACCOUNT, actual)
    assert rep["attributes"] == {"org_unit": ["3607020001"], "locale": ["zh-CN"]}
    assert rep["email"] == "typed-at-login@example.invalid"
    assert (rep["username"], rep["firstName"], rep["lastName"], rep["enabled"]) == (
        ACCOUNT.username,
        "学生00001",
        "测试",
        True,
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KeycloakConnectionError("down"), KeycloakUnreachable),
        (KeycloakPostError("boom", response_code=500), Unavailable),
        (KeycloakPostError("no", response_code=403), PermissionDenied),
        (KeycloakGetError("none", response_code=404), NotFound),
        (KeycloakPostError("taken", response_code=409), AlreadyExists),
        (KeycloakPostError("bad", response_code=400), InvalidArgument),
    ],
)
def test_keycloak_errors_become_domain_errors(error: KeycloakError, expected: type) -> None:
    translated = _translate(error)
    assert type(translated) is expected


def test_a_refused_partial_import_says_what_the_bulk_client_needs() -> None:
    refused = KeycloakPostError("forbidden", response_code=403)
    assert "IDENTITY_KEYCLOAK__CLIENT_ID" in _translate(refused).message
    bulk = _translate(refused, denied=BULK_DENIED)
    assert isinstance(bulk, PermissionDenied)
    assert "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID" in bulk.message
    assert "manage-realm" in bulk.message


async def test_pool_bounds_concurrency_and_raises_the_first_error_itself() -> None:
    running, peak = 0, 0

    async def work(item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        if item == 7:
            raise KeycloakUnreachable("gone")

    with pytest.raises(KeycloakUnreachable):
        await _pool(list(range(20)), work, 3)
    assert peak == 3
    await _pool([], work, 3)
