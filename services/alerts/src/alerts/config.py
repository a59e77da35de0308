from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from xinyu_core.crypto import FieldCipher
from xinyu_core.settings import ServiceSettings


class AlertsSettings(ServiceSettings):
    """Environment variables prefixed ``ALERTS_`` (nested with ``__``, e.g.
    ``ALERTS_KAFKA__PASSWORD``)."""

    model_config = SettingsConfigDict(
        env_prefix="ALERTS_", env_nested_delimiter="__", extra="ignore"
    )
    grpc_listen: str = "127.0.0.1:50065"
    # identity's gRPC address (MatchStudent, ListResponders), called as alerts' own client.
    identity_target: str = "127.0.0.1:50061"
    identity_deadline_seconds: float = 3.0
    # AES-256-GCM key (64 hex characters) of descriptions, protected reporters, raw partner
    # messages, case notes and summaries, locate details (xinyu_core.crypto).
    field_encryption_key: SecretStr = SecretStr("")
    # A routing policy file of the shape of alerts/policy.yaml; empty: the shipped one.
    policy_path: str = ""
    # Every partner unit's inbound topic `alerts consume units` reads (JSON, ACL: one writer).
    unit_topics: list[str] = Field(
        default_factory=lambda: [
            "alerts.unit-police-360702.reported.v1",
            "alerts.unit-cyberspace-360700.reported.v1",
        ]
    )
    # Consumers of the unit topics in one process (one per partition at most). With batches,
    # a few are enough: one process is bound by its CPU, not by waiting.
    units_consumers: int = 4
    # Most partner reports one consumer handles in one transaction when a backlog waits (one
    # BatchMatchStudents and one BatchListResponders call each); a lone report is not held back.
    units_batch: int = Field(default=100, ge=1, le=500)
    # County code → the police unit asked to help locate a missing student there (R12).
    locate_units: dict[str, str] = Field(default_factory=lambda: {"360702": "unit-police-360702"})
    # Where `alerts consume notifications` delivers (an SMS or messaging gateway's adapter);
    # empty: the notification record is the in-app inbox entry and nothing leaves the platform.
    notification_webhook_url: str = ""
    notification_attempts: int = 4
    # Most notifications delivered together when a backlog waits (first attempts sent at once,
    # recorded in one transaction); a lone one is not held back.
    notifications_batch: int = Field(default=100, ge=1, le=500)
    notification_backoff_seconds: float = 0.5
    # How often `alerts serve` looks for due escalation timers.
    scheduler_interval_seconds: float = 1.0

    def _secrets(self) -> dict[str, str]:
        return {
            **super()._secrets(),
            "field_encryption_key": self.field_encryption_key.get_secret_value(),
        }

    def field_cipher(self) -> FieldCipher:
        return FieldCipher.from_hex(self.field_encryption_key.get_secret_value())
