from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from xinyu_core.settings import Environment, KeycloakSettings


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
    # Deadline for one call to a service; the gateway answers 503 rather than hang.
    backend_deadline_seconds: float = 5.0
    keycloak: KeycloakSettings = KeycloakSettings()
    log_level: str = "INFO"
