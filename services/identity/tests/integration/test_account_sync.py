"""Account sync against the real PostgreSQL and Keycloak: registering a person, giving them a
class and ending it each queue a sync in the same transaction, and one worker pass makes their
Keycloak account say so (roles, org_unit, group). Accounts and rows carry a per-run prefix and
are deleted afterwards.

The running identity service syncs the same queue: a request it took is waited for, not
claimed twice (the worker claims with SKIP LOCKED and a lease)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from identity.adapters.account_sync import AccountSyncWorker
from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import account_sync_requests, outbox, people, relationships
from identity.adapters.keycloak import KeycloakAccountDirectory, KeycloakAdminSettings
from identity.bootstrap import MIGRATIONS
from identity.domain.model import PersonKind, Relationship, RelationshipKind, School, SchoolType
from identity.domain.organisation import Organisation
from identity.domain.people import People
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.student_number import StudentNumberProtector
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_session_factory
from xinyu_core.errors import NotFound
from xinyu_core.messaging import OutboxWriter
from xinyu_core.migrations import upgrade
from xinyu_core.settings import KeycloakSettings
from xinyu_core.testing import principal

from .test_keycloak_provisioning import CLIENT_ID, CLIENT_SECRET, ISSUER, local_setting

pytestmark = pytest.mark.integration

DATABASE_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
SCHOOL = "3607020001"
COUNTY = "360702"
SCHOOL_GROUP = "/ganzhou/章贡区/3607020001"
CLASS = f"{SCHOOL}-2024-01"
COUNTY_ADMIN = principal("county_admin", org_unit=COUNTY)
SCHOOL_ADMIN = principal("school_admin", org_unit=SCHOOL)


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker]:  # type: ignore[type-arg]
    # On a fresh stack the integration tests run before the services have migrated.
    await asyncio.to_thread(upgrade, MIGRATIONS, DATABASE_URL)
    engine = create_async_engine(DATABASE_URL)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def directory() -> AsyncIterator[KeycloakAccountDirectory]:
    keycloak = KeycloakSettings(
        issuer=ISSUER, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
    )
    # identity's own client only: the worker never holds the bulk client.
    settings = KeycloakAdminSettings(bulk_client_id="", bulk_client_secret=SecretStr(""))
    found = KeycloakAccountDirectory.from_settings(keycloak, settings)
    try:
        yield found
    finally:
        await found.aclose()


@pytest.fixture
def username() -> str:
    return f"zz-sync-{uuid.uuid4().hex[:10]}"


async def settle(
    worker: AccountSyncWorker,
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    person_id: UUID,
) -> None:
    """Run worker passes until the person's request is gone (ours or the service's pass)."""
    for _ in range(100):
        await worker.drain()
        async with sessions() as session:
            pending = (
                await session.execute(
                    select(account_sync_requests.c.last_error_code).where(
                        account_sync_requests.c.person_id == person_id
                    )
                )
            ).first()
        if pending is None:
            return
        assert pending.last_error_code is None, pending.last_error_code
        await asyncio.sleep(0.2)
    raise AssertionError("the sync request was not handled")


async def test_register_assign_end_reach_keycloak(
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    directory: KeycloakAccountDirectory,
    username: str,
) -> None:
    # The running service's keys: students it enrolled must read back the same here.
    numbers = StudentNumberProtector(
        ResidentIdProtector(local_setting("IDENTITY_RESIDENT_ID_HASH_KEY").encode()),
        FieldCipher.from_hex(local_setting("IDENTITY_FIELD_ENCRYPTION_KEY")),
    )
    units = SqlUnitOfWorkFactory(sessions, OutboxWriter(outbox), numbers)
    organisation = Organisation(units)
    try:
        await organisation.get_school(COUNTY_ADMIN, SCHOOL)
    except NotFound:
        await organisation.register_school(
            COUNTY_ADMIN, School(SCHOOL, "章贡区心育示范学校", COUNTY, SchoolType.NINE_YEAR, 1200)
        )
    await organisation.create_class(SCHOOL_ADMIN, SCHOOL, 2024, 1)
    today = datetime.now(UTC).date()
    worker = AccountSyncWorker(sessions, directory, poll_interval_seconds=0.1)
    use_cases = People(units)
    person_id: UUID | None = None
    try:
        person, created = await use_cases.register(
            SCHOOL_ADMIN,
            PersonKind.STAFF,
            username,
            "周同步",
            home_unit_code=SCHOOL,
            roles=["subject_teacher"],
        )
        person_id = person.person_id
        assert created
        await settle(worker, sessions, person_id)
        account = await directory.get(username)
        assert account is not None
        assert account.roles & {"subject_teacher", "head_teacher"} == {"subject_teacher"}
        assert account.org_unit == SCHOOL
        assert (account.last_name, account.first_name) == ("周", "同步")
        assert account.group_paths == {SCHOOL_GROUP}

        relationship, _ = await use_cases.assign(
            SCHOOL_ADMIN,
            Relationship(
                uuid.uuid4(),
                person_id,
                RelationshipKind.HEAD_TEACHER_OF,
                date(2026, 1, 1) if today > date(2026, 1, 1) else date(2020, 1, 1),
                class_code=CLASS,
            ),
        )
        await settle(worker, sessions, person_id)
        account = await directory.get(username)
        assert account is not None
        assert {"subject_teacher", "head_teacher"} <= account.roles

        await use_cases.end(SCHOOL_ADMIN, str(relationship.relationship_id), today)
        await settle(worker, sessions, person_id)
        account = await directory.get(username)
        assert account is not None
        assert "head_teacher" not in account.roles
        assert "subject_teacher" in account.roles

        # Nothing left to do: a further sync writes nothing.
        writes = directory.calls.writes
        await use_cases.register(
            SCHOOL_ADMIN,
            PersonKind.STAFF,
            username,
            "周同步",
            home_unit_code=SCHOOL,
            roles=["subject_teacher"],
        )
        await settle(worker, sessions, person_id)
        assert directory.calls.writes == writes
    finally:
        await directory.delete(username)
        async with sessions() as session, session.begin():
            if person_id is not None:
                for table in (account_sync_requests, relationships):
                    await session.execute(delete(table).where(table.c.person_id == person_id))
            await session.execute(delete(people).where(people.c.username == username))


STACK = Path(__file__).resolve().parents[4] / "infra" / "local" / "stack"


def _stack(*args: str) -> None:
    subprocess.run([str(STACK), *args], check=True, capture_output=True, timeout=120)


async def _wait_for_keycloak() -> None:
    discovery = f"{ISSUER}/.well-known/openid-configuration"
    async with asyncio.timeout(120), httpx.AsyncClient() as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(discovery, timeout=2)).is_success:
                    return
            await asyncio.sleep(0.5)


async def test_a_keycloak_outage_is_retried_with_backoff_and_then_synced(
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    directory: KeycloakAccountDirectory,
    username: str,
) -> None:
    numbers = StudentNumberProtector(
        ResidentIdProtector(local_setting("IDENTITY_RESIDENT_ID_HASH_KEY").encode()),
        FieldCipher.from_hex(local_setting("IDENTITY_FIELD_ENCRYPTION_KEY")),
    )
    units = SqlUnitOfWorkFactory(sessions, OutboxWriter(outbox), numbers)
    organisation = Organisation(units)
    try:
        await organisation.get_school(COUNTY_ADMIN, SCHOOL)
    except NotFound:
        await organisation.register_school(
            COUNTY_ADMIN, School(SCHOOL, "章贡区心育示范学校", COUNTY, SchoolType.NINE_YEAR, 1200)
        )
    worker = AccountSyncWorker(sessions, directory, poll_interval_seconds=0.1)
    person_id: UUID | None = None
    try:
        person, _ = await People(units).register(
            SCHOOL_ADMIN,
            PersonKind.STAFF,
            username,
            "吴重试",
            home_unit_code=SCHOOL,
            roles=["subject_teacher"],
        )
        person_id = person.person_id
        _stack("ctl", "stop", "keycloak")
        try:
            failure = None
            for _ in range(50):
                outcome = await worker.run_once()
                if outcome is not None and outcome.person_id == person_id:
                    failure = outcome
                    break
            assert failure is not None, "the request was never attempted"
            assert not failure.ok
            async with sessions() as session:
                row = (
                    await session.execute(
                        select(
                            account_sync_requests.c.attempts,
                            account_sync_requests.c.last_error_code,
                            account_sync_requests.c.next_attempt_at > func.now(),
                        ).where(account_sync_requests.c.person_id == person_id)
                    )
                ).one()
            # Kept for a later pass, with an error code (a class name, never a message) and a
            # backoff, so a Keycloak outage does not become a busy loop.
            assert row[0] == 1
            assert row[1] == failure.error_code
            assert row[2] is True
        finally:
            _stack("ctl", "start", "keycloak")
            await _wait_for_keycloak()
        # After the backoff the same request goes through.
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            await worker.drain()
            if await directory.get(username) is not None:
                break
            await asyncio.sleep(0.5)
        account = await directory.get(username)
        assert account is not None
        assert "subject_teacher" in account.roles
    finally:
        with contextlib.suppress(Exception):
            await directory.delete(username)
        async with sessions() as session, session.begin():
            if person_id is not None:
                await session.execute(
                    delete(account_sync_requests).where(
                        account_sync_requests.c.person_id == person_id
                    )
                )
            await session.execute(delete(people).where(people.c.username == username))
