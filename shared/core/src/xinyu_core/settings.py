"""Settings shared by every service, read from the environment with pydantic-settings.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``IDENTITY_``,
``GATEWAY_``…). Secrets that still carry a development placeholder are refused outside the
``development`` and ``test`` environments, so a forgotten value cannot reach production.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that mark a secret as "not chosen yet". The local stack's own dev passwords all start
# with "dev-", so they are refused too once XINYU_ENVIRONMENT says production or staging. Keys
# written in hex cannot spell "dev-": the local stack's start with "deadbeefdeadbeef" instead
# (a random 64-character key contains it with odds of about 1 in 10^17).
PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "placeholder",
    "dev-",
    "secret",
    "password",
    "deadbeefdeadbeef",
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return not lowered or any(marker in lowered for marker in PLACEHOLDER_MARKERS)


class KafkaSettings(BaseModel):
    """How a service reaches the broker. Services authenticate with SASL/SCRAM as themselves."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: SecretStr = SecretStr("")
    # PEM bundle of the CA that signed the brokers' certificates (SSL and SASL_SSL). In a
    # cluster the Strimzi cluster CA is mounted here; empty means the system's trust store.
    ssl_ca_location: str = ""
    # Off only to debug a certificate problem; never in production.
    ssl_verify_hostname: bool = True


class KeycloakSettings(BaseModel):
    """Where tokens come from and what a valid one must say."""

    issuer: str = "http://127.0.0.1:8180/realms/xinyu"
    audience: str = "xinyu-api"
    # Defaults to <issuer>/protocol/openid-connect/certs when empty.
    jwks_url: str = ""
    # A service's own client, for calls with no person behind them (relays, workers).
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    # Seconds of clock skew tolerated on exp/nbf/iat.
    leeway_seconds: int = 30
    # Keys are refetched at most this often, even when an unknown key id keeps arriving.
    jwks_refetch_cooldown_seconds: float = 30.0
    # Cached keys are refreshed after this long when Keycloak answers.
    jwks_max_age_seconds: float = 600.0

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer.rstrip('/')}/protocol/openid-connect/certs"


class HousekeepingSettings(BaseModel):
    """How long the messaging tables keep what they no longer need (``<PREFIX>HOUSEKEEPING__*``)."""

    # Published outbox rows: kept a while to answer "was it sent, when?".
    outbox_keep_days: int = Field(default=7, ge=1)
    # Inbox rows: longer than the retention of every topic a consumer group reads (30 days at
    # most, infra/kafka/topics.yaml), so no redelivery can be older than its inbox row.
    inbox_keep_days: int = Field(default=35, ge=1)
    interval_seconds: float = Field(default=3600.0, gt=0)
    # Rows deleted per short transaction.
    batch: int = Field(default=5000, ge=1)


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``model_config`` with their own env prefix."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        validation_alias="XINYU_ENVIRONMENT",
    )
    database_url: SecretStr = SecretStr("")
    grpc_listen: str = "127.0.0.1:50051"
    kafka: KafkaSettings = KafkaSettings()
    keycloak: KeycloakSettings = KeycloakSettings()
    housekeeping: HousekeepingSettings = HousekeepingSettings()
    log_level: str = "INFO"

    def _secrets(self) -> dict[str, str]:
        """Name → value of every secret this service actually uses (override to add more)."""
        found: dict[str, str] = {}
        if self.database_url.get_secret_value():
            from sqlalchemy.engine import make_url

            found["database_url password"] = (
                make_url(self.database_url.get_secret_value()).password or ""
            )
        if self.kafka.username:
            found["kafka.password"] = self.kafka.password.get_secret_value()
        if self.keycloak.client_id:
            found["keycloak.client_secret"] = self.keycloak.client_secret.get_secret_value()
        return found

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return self
        weak = sorted(name for name, value in self._secrets().items() if is_placeholder(value))
        if weak:
            raise ValueError(
                f"placeholder or empty secrets are not allowed in {self.environment.value}: "
                + ", ".join(weak)
            )
        return self
