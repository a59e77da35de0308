from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from identity.domain.policy import OrganisationPolicy
from xinyu_core.crypto import FieldCipher
from xinyu_core.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    """Environment variables prefixed ``IDENTITY_`` (nested with ``__``, e.g.
    ``IDENTITY_KAFKA__PASSWORD``)."""

    model_config = SettingsConfigDict(
        env_prefix="IDENTITY_", env_nested_delimiter="__", extra="ignore"
    )
    grpc_listen: str = "127.0.0.1:50061"
    # Key of the keyed hash that stands in for resident IDs (see domain/resident_id.py).
    # Changing it makes every stored hash unmatchable: rotate only with a re-hash migration.
    resident_id_hash_key: SecretStr = SecretStr("")
    # AES-256-GCM key (64 hex characters) of fields kept encrypted because they must be read
    # back, e.g. students.student_number (see xinyu_core.crypto). Losing it loses those values.
    field_encryption_key: SecretStr = SecretStr("")
    # Rotation (docs/runbooks/key-rotation.md): the id new ciphertexts carry, and the earlier
    # keys still needed to read older ones, as "1:<64 hex>,2:<64 hex>" until `identity
    # rotate-keys` has re-encrypted everything under the current key.
    field_encryption_key_id: int = 1
    field_encryption_previous_keys: SecretStr = SecretStr("")
    # The plan's numbers (R7, R8, R24) as named policy, e.g. IDENTITY_POLICY__COMMITTEE_BOYS=2.
    policy: OrganisationPolicy = OrganisationPolicy()

    def _secrets(self) -> dict[str, str]:
        return {
            **super()._secrets(),
            "resident_id_hash_key": self.resident_id_hash_key.get_secret_value(),
            "field_encryption_key": self.field_encryption_key.get_secret_value(),
            **(
                {"field_encryption_previous_keys": previous}
                if (previous := self.field_encryption_previous_keys.get_secret_value())
                else {}
            ),
        }

    def field_cipher(self) -> FieldCipher:
        return FieldCipher.from_hex(
            self.field_encryption_key.get_secret_value(),
            key_id=self.field_encryption_key_id,
            previous=self.field_encryption_previous_keys.get_secret_value(),
        )
