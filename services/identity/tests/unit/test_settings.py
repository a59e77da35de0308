from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from identity.config import IdentitySettings
from xinyu_core.crypto import FieldCipher

ROOT = Path(__file__).resolve().parents[4]


def local_value(name: str) -> str:
    for line in (ROOT / "infra/local/services.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} is not in infra/local/services.env")


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYU_ENVIRONMENT", "production")
    monkeypatch.setenv("IDENTITY_RESIDENT_ID_HASH_KEY", "Zq8vN3kL0pWxR7m2Lq9TzXc4")
    for name in ("DATABASE_URL", "KAFKA__USERNAME", "KEYCLOAK__CLIENT_ID"):
        monkeypatch.delenv(f"IDENTITY_{name}", raising=False)


def test_the_local_field_encryption_key_is_a_key_and_works_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XINYU_ENVIRONMENT", "development")
    value = local_value("IDENTITY_FIELD_ENCRYPTION_KEY")
    monkeypatch.setenv("IDENTITY_FIELD_ENCRYPTION_KEY", value)
    settings = IdentitySettings()
    FieldCipher.from_hex(settings.field_encryption_key.get_secret_value())


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("value", ["", "LOCAL"])
def test_the_local_or_an_empty_field_encryption_key_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    if value == "LOCAL":
        value = local_value("IDENTITY_FIELD_ENCRYPTION_KEY")
    monkeypatch.setenv("IDENTITY_FIELD_ENCRYPTION_KEY", value)
    with pytest.raises(ValidationError, match="field_encryption_key"):
        IdentitySettings()


@pytest.mark.usefixtures("production")
def test_a_random_field_encryption_key_passes_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDENTITY_FIELD_ENCRYPTION_KEY", bytes(range(100, 132)).hex())
    assert IdentitySettings().field_encryption_key.get_secret_value()
