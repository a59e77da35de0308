from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xinyu_core.settings import Environment, KafkaSettings, KeycloakSettings, is_placeholder


class GatewaySettings(BaseSettings):
    """Environment variables prefixed ``GATEWAY_``. The gateway owns no database."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT, validation_alias="XINYU_ENVIRONMENT"
    )
    host: str = "127.0.0.1"
    port: int = 8080
    identity_target: str = "127.0.0.1:50061"
    archives_target: str = "127.0.0.1:50064"
    screening_target: str = "127.0.0.1:50062"
    alerts_target: str = "127.0.0.1:50065"
    # Deadline for one call to a service; the gateway answers 503 rather than hang.
    backend_deadline_seconds: float = 5.0
    # client_id/client_secret: the gateway's own client (`gateway`), used only for calls with no
    # Keycloak token behind them: a student's account activation (no token yet), joining a
    # screening sitting with its codes, and saving or submitting answers with a sitting token
    # (which only screening can verify).
    keycloak: KeycloakSettings = KeycloakSettings()
    # The gateway writes only audit records (its denials) to Kafka, as principal "gateway".
    kafka: KafkaSettings = KafkaSettings()
    # How long a refused caller waits for the broker to acknowledge the refusal's record.
    audit_send_timeout_seconds: float = 5.0
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_placeholder_kafka_password(self) -> Self:
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return self
        if self.kafka.username and is_placeholder(self.kafka.password.get_secret_value()):
            raise ValueError(f"placeholder kafka.password not allowed in {self.environment.value}")
        secret = self.keycloak.client_secret.get_secret_value()
        if secret and is_placeholder(secret):
            raise ValueError(
                f"placeholder keycloak.client_secret not allowed in {self.environment.value}"
            )
        return self
