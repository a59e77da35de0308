from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from xinyu_core.settings import ServiceSettings


class ArchivesSettings(ServiceSettings):
    """Environment variables prefixed ``ARCHIVES_`` (nested with ``__``)."""

    model_config = SettingsConfigDict(
        env_prefix="ARCHIVES_", env_nested_delimiter="__", extra="ignore"
    )
    grpc_listen: str = "127.0.0.1:50064"
