from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from screening.domain.instruments import RiskLevel
from xinyu_core.settings import ServiceSettings


class ScreeningSettings(ServiceSettings):
    """Environment variables prefixed ``SCREENING_`` (nested with ``__``, e.g.
    ``SCREENING_KAFKA__PASSWORD``)."""

    model_config = SettingsConfigDict(
        env_prefix="SCREENING_", env_nested_delimiter="__", extra="ignore"
    )
    grpc_listen: str = "127.0.0.1:50062"
    # AES-256-GCM key (64 hex characters) of answers, result details, confirmation reasons and
    # guardian-task notes (xinyu_core.crypto). Losing it loses every stored answer.
    field_encryption_key: SecretStr = SecretStr("")
    # HMAC key of sitting tokens (HS256 JWTs for students without a Keycloak token) and of the
    # keyed hashes that stand in for join and personal codes. Rotating it ends live sittings.
    sitting_token_key: SecretStr = SecretStr("")
    # identity's gRPC address (who the caller is, a class's students, enrolment counts).
    identity_target: str = "127.0.0.1:50061"
    identity_deadline_seconds: float = Field(default=3.0, gt=0)
    # Connections of SubmitAnswers' own pool (beside the main pool of 10 + 10).
    answer_pool_size: int = Field(default=16, ge=1, le=100)
    # Group commit of SubmitAnswers: submissions arriving within this many milliseconds of a
    # batch's first (at most answer_batch_most) are read and written together.
    answer_batch_window_ms: float = Field(default=5.0, ge=0, le=50)
    answer_batch_most: int = Field(default=64, ge=1, le=1000)
    # A confirmed level at or above this opens a guardian-informing task (R2), puts the student
    # on the re-screening list and tells head teachers that the student needs follow-up.
    high_risk_level: RiskLevel = RiskLevel.ORANGE
    # Days a guardian-informing task may stay open before it is overdue.
    guardian_task_days: int = Field(default=3, ge=1, le=30)
    # Wrong personal codes a sitting tolerates per participant before it locks (the code is
    # what says who is joining, so a wrong one cannot be pinned on one student).
    wrong_codes_per_participant: int = Field(default=5, ge=1, le=50)

    def _secrets(self) -> dict[str, str]:
        return {
            **super()._secrets(),
            "field_encryption_key": self.field_encryption_key.get_secret_value(),
            "sitting_token_key": self.sitting_token_key.get_secret_value(),
        }
