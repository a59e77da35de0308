"""Builds students' account pieces for the composition root and the bulk Jobs."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.accounts.activation import PasswordDirectory, StudentActivation
from identity.accounts.provisioning import StudentProvisioner, provision_groups
from identity.accounts.servicer import SERVICE_NAME, StudentAccountServicer
from identity.accounts.store import SqlActivationStore
from identity.adapters.keycloak import (
    BulkClientMissing,
    KeycloakAccountDirectory,
    KeycloakAdminSettings,
)
from identity.adapters.keycloak.directory import BULK_CLIENT_ID, BULK_CLIENT_SECRET
from identity.config import IdentitySettings
from identity.domain.student_accounts import ActivationCodes
from xinyu.identity.v1 import accounts_pb2_grpc
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.server import Registration
from xinyu_core.messaging import OutboxWriter

log = logging.getLogger(__name__)

USAGE = "usage: identity provision groups | identity provision students --scope CODE [--recheck]"


def activation_codes(settings: IdentitySettings) -> ActivationCodes:
    return ActivationCodes(settings.resident_id_hash_key.get_secret_value().encode())


def student_account_service(
    settings: IdentitySettings,
    sessions: async_sessionmaker[AsyncSession],
    outbox: OutboxWriter,
    directory: PasswordDirectory | None,
) -> Registration:
    activation = StudentActivation(
        SqlActivationStore(sessions, outbox), directory, activation_codes(settings)
    )
    return Registration(
        SERVICE_NAME,
        accounts_pb2_grpc.add_StudentAccountServiceServicer_to_server,
        StudentAccountServicer(activation),
    )


def bulk_directory(settings: IdentitySettings) -> KeycloakAccountDirectory:
    """identity's own client and the bulk client ``identity-bulk``; refuses to start without
    the latter (the Jobs are the bulk path)."""
    directory = KeycloakAccountDirectory.from_settings(settings.keycloak, KeycloakAdminSettings())
    if not directory.can_bulk:
        raise BulkClientMissing(
            f"identity provision runs as the bulk client: set {BULK_CLIENT_ID} and "
            f"{BULK_CLIENT_SECRET} (client identity-bulk)"
        )
    return directory


async def provision(settings: IdentitySettings, args: list[str]) -> int:
    """``identity provision groups`` / ``identity provision students --scope CODE``; the exit
    status is 1 when any group or account failed (the log says which reasons, in counts)."""
    what = args[0] if args else ""
    scope = ""
    recheck = "--recheck" in args
    if what == "students":
        rest = [a for a in args[1:] if a != "--recheck"]
        if len(rest) != 2 or rest[0] != "--scope":
            raise SystemExit(USAGE)
        scope = rest[1]
    elif what != "groups" or len(args) != 1:
        raise SystemExit(USAGE)
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=2)
    directory = bulk_directory(settings)
    try:
        sessions = make_session_factory(engine)
        if what == "groups":
            report = await provision_groups(sessions, directory)
            return 1 if report.failed else 0
        summary = await StudentProvisioner(sessions, directory).run(scope, recheck=recheck)
        return 1 if summary.failed else 0
    finally:
        await directory.aclose()
        await engine.dispose()


def run_provision(settings: IdentitySettings, args: list[str]) -> int:
    return asyncio.run(provision(settings, args))
