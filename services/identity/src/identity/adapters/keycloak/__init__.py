"""identity's accounts in Keycloak: the admin-API adapter of ``identity.domain.accounts``."""

from identity.adapters.keycloak.directory import (
    AdminCalls,
    BulkClientMissing,
    GroupReport,
    GroupSpec,
    KeycloakAccountDirectory,
    KeycloakUnreachable,
)
from identity.adapters.keycloak.settings import KeycloakAdminSettings, admin_endpoint

__all__ = [
    "AdminCalls",
    "BulkClientMissing",
    "GroupReport",
    "GroupSpec",
    "KeycloakAccountDirectory",
    "KeycloakAdminSettings",
    "KeycloakUnreachable",
    "admin_endpoint",
]
