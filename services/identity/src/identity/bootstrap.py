"""Composition root of identity: the only place its objects are built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from identity.accounts.wiring import student_account_service
from identity.adapters.account_sync import AccountSyncWorker
from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import outbox
from identity.adapters.keycloak import KeycloakAccountDirectory, KeycloakAdminSettings
from identity.api.servicer import IdentityServicer
from identity.audit.wiring import audit_service
from identity.config import IdentitySettings
from identity.domain.matching import StudentMatcher
from identity.domain.organisation import Organisation
from identity.domain.people import People
from identity.domain.reports import Reports
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.responders import ResponderDirectory
from identity.domain.student_lists import StudentLists
from identity.domain.student_number import StudentNumberProtector
from identity.domain.use_cases import StudentDirectory
from identity.roster.wiring import roster_service
from xinyu.identity.v1 import identity_pb2_grpc
from xinyu_core.audit import OutboxAuditRecorder
from xinyu_core.auth import build_token_verifier
from xinyu_core.db import make_engine, make_session_factory
from xinyu_core.grpc.server import GrpcServer, Registration, build_server
from xinyu_core.messaging import (
    AsyncProducer,
    MessagingHousekeeping,
    OutboxRelay,
    OutboxWriter,
    PostgresOutbox,
    build_producer,
)
from xinyu_core.settings import Environment

SERVICE = "identity"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@dataclass
class Identity:
    server: GrpcServer
    relay: OutboxRelay
    housekeeping: MessagingHousekeeping
    engine: AsyncEngine
    producer: AsyncProducer
    http: httpx.AsyncClient
    # None when identity has no Keycloak client of its own (IDENTITY_KEYCLOAK__CLIENT_ID/SECRET).
    account_sync: AccountSyncWorker | None = None
    directory: KeycloakAccountDirectory | None = None

    async def close(self) -> None:
        self.relay.stop()
        if self.account_sync is not None:
            await self.account_sync.stop()
        if self.directory is not None:
            await self.directory.aclose()
        await self.producer.close()
        await self.engine.dispose()
        await self.http.aclose()


def build(settings: IdentitySettings, tracer_provider: TracerProvider | None = None) -> Identity:
    engine = make_engine(settings.database_url.get_secret_value())
    sessions = make_session_factory(engine)
    producer = AsyncProducer(build_producer(settings.kafka, client_id=SERVICE))
    relay = OutboxRelay(
        sessions,
        PostgresOutbox(outbox),
        producer,
        poll_interval_seconds=1.0,
        tracer_provider=tracer_provider,
    )
    protector = ResidentIdProtector(settings.resident_id_hash_key.get_secret_value().encode())
    numbers = StudentNumberProtector(protector, settings.field_cipher())
    units = SqlUnitOfWorkFactory(sessions, OutboxWriter(outbox, on_commit=relay.wake), numbers)
    servicer = IdentityServicer(
        StudentDirectory(units, protector),
        Organisation(units),
        People(units),
        Reports(units, settings.policy),
        StudentLists(units),
        StudentMatcher(units, protector),
        ResponderDirectory(units),
    )
    # Refusals of identity's own RPCs (the AuditService's included) go through its outbox.
    audit = OutboxAuditRecorder(SERVICE, OutboxWriter(outbox, on_commit=relay.wake), sessions)
    http = httpx.AsyncClient()
    directory, account_sync = None, None
    if settings.keycloak.client_id and settings.keycloak.client_secret.get_secret_value():
        # The serving process syncs one account at a time as identity's own client; the bulk
        # client (partial import, manage-realm) is left out even when the environment sets it.
        admin_settings = KeycloakAdminSettings().model_copy(
            update={"bulk_client_id": "", "bulk_client_secret": SecretStr("")}
        )
        directory = KeycloakAccountDirectory.from_settings(settings.keycloak, admin_settings)
        account_sync = AccountSyncWorker(sessions, directory)
    server = build_server(
        settings.grpc_listen,
        [
            Registration(
                "xinyu.identity.v1.IdentityService",
                identity_pb2_grpc.add_IdentityServiceServicer_to_server,
                servicer,
            ),
            audit_service(sessions, audit),
            roster_service(settings.database_url.get_secret_value(), sessions, protector, numbers),
            # Activation sets passwords as identity's own client (reset-password).
            student_account_service(
                settings, sessions, OutboxWriter(outbox, on_commit=relay.wake), directory
            ),
        ],
        build_token_verifier(settings.keycloak, http),
        reflection_enabled=settings.environment != Environment.PRODUCTION,
        tracer_provider=tracer_provider,
        audit=audit,
    )
    return Identity(
        server=server,
        relay=relay,
        housekeeping=MessagingHousekeeping(sessions, settings.housekeeping, outbox=outbox),
        engine=engine,
        producer=producer,
        http=http,
        account_sync=account_sync,
        directory=directory,
    )
