from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from xinyu_core.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    """Environment variables prefixed ``IDENTITY_`` (nested with ``__``, e.g.
    ``IDENTITY_KAFKA__PASSWORD``)."""

    model_config = SettingsConfigDict(
        env_prefix="IDENTITY_", env_nested_delimiter="__", extra="ignore"
    )
    grpc_listen: str = "127.0.0.1:50061"
