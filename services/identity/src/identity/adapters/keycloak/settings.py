"""How identity talks to Keycloak's admin API, beyond what ``IDENTITY_KEYCLOAK__*`` says.

``IDENTITY_KEYCLOAK__ISSUER``, ``__CLIENT_ID`` and ``__CLIENT_SECRET`` (xinyu_core's
``KeycloakSettings``) give the realm and identity's own confidential client, which administers
one account at a time; the admin base URL is derived from the issuer. The bulk client and the
tuning below are read from ``IDENTITY_KEYCLOAK_ADMIN__*``.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from xinyu_core.errors import InvalidArgument

_ISSUER = re.compile(r"^(?P<server>https?://.+?)/realms/(?P<realm>[^/]+)/?$")


class KeycloakAdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_KEYCLOAK_ADMIN__", extra="ignore")

    # Users per partial-import request. Keycloak imports a request in one transaction and its
    # cost per user grows with the transaction (2 cores, Keycloak 26.5: 50 users/request was
    # about 5x faster per user than 1,000); see docs/decisions/0009-keycloak-provisioning.md.
    bulk_batch_size: int = Field(default=50, ge=1, le=1000)
    # Partial-import requests in flight. Keycloak, PostgreSQL and identity share 2 cores; more
    # than ~3 only queues inside Keycloak.
    bulk_concurrency: int = Field(default=3, ge=1, le=16)
    # Single-account syncs in flight (reconciling existing accounts after a bulk run).
    sync_concurrency: int = Field(default=4, ge=1, le=32)
    # Seconds per admin request; a 1,000-user partial import can take tens of seconds.
    timeout_seconds: int = Field(default=120, ge=1)
    # The client of bulk runs (partial import), `identity-bulk` in the realm: the only one
    # holding realm-management `manage-realm`, which partial import needs. Set it in a bulk
    # Job only, never in the serving process; empty, bulk_upsert refuses to run. identity's
    # own client (IDENTITY_KEYCLOAK__CLIENT_ID) is never used for partial import.
    bulk_client_id: str = ""
    bulk_client_secret: SecretStr = SecretStr("")


def admin_endpoint(issuer: str) -> tuple[str, str]:
    """``http://host:8180/realms/xinyu`` → (``http://host:8180/``, ``xinyu``): the server URL
    python-keycloak wants and the realm whose users identity administers."""
    match = _ISSUER.match(issuer)
    if match is None:
        raise InvalidArgument("keycloak.issuer", "expected <server>/realms/<realm>")
    return match["server"] + "/", match["realm"]
