"""Students' accounts against the real PostgreSQL and Keycloak: the school group tree is
mirrored (a second run only reads), registering a school queues its group and the account sync
worker creates it, students of a school are provisioned in bulk as the bulk client (a second run
creates nothing) with role student, the school's org_unit and group, and no name; a slip's code
activates one account once, after which Keycloak issues the student a token.

Everything here is synthetic: schools 3607029900-3607029989 of 章贡区 that no demo or test
uses, students inserted directly (no events), and all of it is deleted afterwards, in identity's
database and in Keycloak (accounts, groups)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from identity.accounts.activation import StudentActivation
from identity.accounts.provisioning import StudentProvisioner, tree_groups
from identity.accounts.store import SqlActivationStore
from identity.adapters.account_sync import AccountSyncWorker
from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import (
    activation_code_batches,
    classes,
    org_units,
    outbox,
    school_group_requests,
    schools,
    student_accounts,
    student_login_sequences,
    students,
)
from identity.adapters.keycloak import KeycloakAccountDirectory, KeycloakAdminSettings
from identity.bootstrap import MIGRATIONS
from identity.domain.model import School, SchoolType
from identity.domain.organisation import Organisation
from identity.domain.student_accounts import STUDENT_NAME, ActivationCodes
from xinyu_core.auth import Principal
from xinyu_core.db import make_session_factory
from xinyu_core.messaging import OutboxWriter
from xinyu_core.migrations import upgrade
from xinyu_core.settings import KeycloakSettings
from xinyu_core.testing import principal

from .test_keycloak_provisioning import (
    BULK_CLIENT_ID,
    BULK_CLIENT_SECRET,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    TOKEN_URL,
    local_setting,
)

pytestmark = pytest.mark.integration

DATABASE_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
COUNTY = "360702"
COUNTY_GROUP = "/ganzhou/章贡区"
COUNTY_ADMIN = principal("county_admin", org_unit=COUNTY)
PASSWORD = "Zz-Activate-2026!"
GATEWAY = Principal(
    subject="00000000-0000-4000-8000-0000000000aa",
    username="service-account-gateway",
    roles=frozenset({"service"}),
    org_unit="",
    client_id="gateway",
    token="integration-test",
)
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions() -> AsyncIterator[Sessions]:
    await asyncio.to_thread(upgrade, MIGRATIONS, DATABASE_URL)
    engine = create_async_engine(DATABASE_URL)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def directory() -> AsyncIterator[KeycloakAccountDirectory]:
    found = KeycloakAccountDirectory.from_settings(
        KeycloakSettings(
            issuer=ISSUER, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
        ),
        KeycloakAdminSettings(
            bulk_client_id=BULK_CLIENT_ID, bulk_client_secret=SecretStr(BULK_CLIENT_SECRET)
        ),
    )
    try:
        yield found
    finally:
        await found.aclose()


@pytest.fixture
async def codes(
    sessions: Sessions, directory: KeycloakAccountDirectory
) -> AsyncIterator[list[str]]:
    """Three school codes nobody else uses now; removed from identity and Keycloak after."""
    async with sessions() as session:
        taken = set(
            (
                await session.execute(
                    select(org_units.c.code).where(org_units.c.code.like("36070299%"))
                )
            ).scalars()
        )
    # 3607029999 is the bulk benchmark's school (benchmarks/keycloak_bulk.py).
    free = [c for c in (f"36070299{n:02d}" for n in range(90)) if c not in taken]
    picked = sorted(secrets.SystemRandom().sample(free, 3))
    try:
        yield picked
    finally:
        await _forget(sessions, directory, picked)


async def _forget(
    sessions: Sessions, directory: KeycloakAccountDirectory, codes: list[str]
) -> None:
    for code in codes:
        await directory.delete_by_prefix(f"s{code}-")
        if await directory.has_group(f"{COUNTY_GROUP}/{code}"):
            await directory.delete_group(f"{COUNTY_GROUP}/{code}")
    async with sessions.begin() as session:
        ids = select(students.c.student_id).where(students.c.school_code.in_(codes))
        await session.execute(
            delete(student_accounts).where(student_accounts.c.student_id.in_(ids))
        )
        await session.execute(
            delete(activation_code_batches).where(activation_code_batches.c.school_code.in_(codes))
        )
        await session.execute(delete(students).where(students.c.school_code.in_(codes)))
        await session.execute(delete(classes).where(classes.c.school_code.in_(codes)))
        await session.execute(
            delete(school_group_requests).where(school_group_requests.c.school_code.in_(codes))
        )
        await session.execute(delete(schools).where(schools.c.school_code.in_(codes)))
        await session.execute(
            delete(org_units).where(
                org_units.c.school_code.in_(codes), org_units.c.kind != "school"
            )
        )
        await session.execute(delete(org_units).where(org_units.c.code.in_(codes)))
        await session.execute(
            delete(student_login_sequences).where(student_login_sequences.c.school_code.in_(codes))
        )


def _organisation(sessions: Sessions) -> Organisation:
    # Registration writes no event, so the protector of student numbers is never asked.
    return Organisation(SqlUnitOfWorkFactory(sessions, OutboxWriter(outbox), None))  # type: ignore[arg-type]


async def _register(sessions: Sessions, code: str) -> None:
    await _organisation(sessions).register_school(
        COUNTY_ADMIN, School(code, f"测试学校{code[-2:]}", COUNTY, SchoolType.JUNIOR, 100)
    )


async def _enrol(sessions: Sessions, school: str, class_code: str, count: int) -> list[UUID]:
    """Students inserted as rows (no enrolment event: nothing else needs to hear of them)."""
    ids = [uuid.uuid4() for _ in range(count)]
    async with sessions.begin() as session:
        await session.execute(
            insert(students),
            [
                {
                    "student_id": i,
                    "student_number_hash": secrets.token_hex(32),
                    "student_number_cipher": secrets.token_bytes(40),
                    "student_number_masked": "G**************0000",
                    "full_name": f"测试学生{n}",
                    "school_code": school,
                    "county_code": COUNTY,
                    "class_code": class_code,
                    "enrolled_at": datetime.now(UTC),
                }
                for n, i in enumerate(ids)
            ],
        )
    return ids


async def test_the_group_tree_is_mirrored_once(
    sessions: Sessions, directory: KeycloakAccountDirectory, codes: list[str]
) -> None:
    for code in codes:
        await _register(sessions, code)
    async with sessions() as session:
        specs = await tree_groups(session, codes)
    paths = {s.path for s in specs}
    assert {f"{COUNTY_GROUP}/{c}" for c in codes} | {"/ganzhou", COUNTY_GROUP} == paths
    first = await directory.mirror_groups(specs)
    # The running identity service's worker may have created some of them a moment ago.
    assert first.created + first.existing == len(specs)
    assert not first.failed
    writes = directory.calls.writes
    again = await directory.mirror_groups(specs)
    assert (again.created, again.existing) == (0, len(specs))
    assert directory.calls.writes == writes  # a second run only reads
    group = await directory.admin.a_get_group_by_path(f"{COUNTY_GROUP}/{codes[0]}")
    assert group["attributes"]["code"] == [codes[0]]
    assert group["attributes"]["level"] == ["school"]


async def test_a_registered_school_gets_its_group_from_the_worker(
    sessions: Sessions, directory: KeycloakAccountDirectory, codes: list[str]
) -> None:
    code = codes[0]
    await _register(sessions, code)
    worker = AccountSyncWorker(sessions, directory, poll_interval_seconds=0.1)
    for _ in range(100):
        await worker.run_group_once()
        async with sessions() as session:
            pending = (
                await session.execute(
                    select(school_group_requests.c.last_error_code).where(
                        school_group_requests.c.school_code == code
                    )
                )
            ).first()
        if pending is None:
            break
        assert pending.last_error_code is None, pending.last_error_code
        await asyncio.sleep(0.2)  # the running service's worker holds it
    assert await directory.has_group(f"{COUNTY_GROUP}/{code}")


async def test_students_are_provisioned_once_and_activate_with_a_slip(
    sessions: Sessions, directory: KeycloakAccountDirectory, codes: list[str]
) -> None:
    school = codes[1]
    await _register(sessions, school)
    school_class, _ = await _organisation(sessions).create_class(
        principal("school_admin", org_unit=school), school, 2025, 1
    )
    ids = await _enrol(sessions, school, school_class.class_code, 7)

    first = await StudentProvisioner(sessions, directory, chunk_size=3).run(school)
    assert (first.candidates, first.created, first.failed) == (7, 7, 0)
    again = await StudentProvisioner(sessions, directory).run(school)
    assert (again.candidates, again.created) == (0, 0)
    rechecked = await StudentProvisioner(sessions, directory).run(school, recheck=True)
    assert (rechecked.created, rechecked.existing) == (0, 7)

    async with sessions() as session:
        rows = list(
            await session.execute(
                select(student_accounts).where(student_accounts.c.student_id.in_(ids))
            )
        )
    assert len(rows) == 7
    assert all(r.provisioned_at is not None for r in rows)
    names = sorted(r.username for r in rows)
    assert names == [f"s{school}-{n:04d}" for n in range(1, 8)]
    account = await directory.get(names[0])
    assert account is not None
    assert account.roles >= {"student"}
    assert account.org_unit == school
    assert account.group_paths == {f"{COUNTY_GROUP}/{school}"}
    assert (account.first_name, account.last_name, account.email) == (
        STUDENT_NAME,
        STUDENT_NAME,
        None,
    )

    activation = StudentActivation(
        SqlActivationStore(sessions, OutboxWriter(outbox)),
        directory,
        ActivationCodes(local_setting("IDENTITY_RESIDENT_ID_HASH_KEY").encode()),
    )
    admin = principal("school_admin", org_unit=school)
    issued = await activation.issue(admin, school_class.class_code)
    assert len(issued.slips) == 7
    slip = issued.slips[0]
    async with sessions() as session:
        stored = (
            await session.execute(
                select(student_accounts.c.code_hash).where(
                    student_accounts.c.username == slip.login_name
                )
            )
        ).scalar_one()
        batch = (
            await session.execute(
                select(activation_code_batches).where(
                    activation_code_batches.c.batch_id == issued.batch.batch_id
                )
            )
        ).one()
    assert stored is not None
    assert slip.code.replace("-", "") not in stored
    assert (batch.code_count, batch.issued_by) == (7, admin.subject)

    async with httpx.AsyncClient() as http:

        async def sign_in() -> int:
            reply = await http.post(
                TOKEN_URL,
                data={
                    "grant_type": "password",
                    "client_id": "xinyu-cli",
                    "client_secret": local_setting("XINYU_E2E_CLI_SECRET", "dev-kc-cli"),
                    "username": slip.login_name,
                    "password": PASSWORD,
                },
            )
            return reply.status_code

        assert await sign_in() == 401  # no password yet
        assert await activation.activate(GATEWAY, slip.login_name, slip.code, PASSWORD)
        assert await sign_in() == 200


async def test_moved_and_leaving_students_accounts_follow_and_taken_names_are_refused(
    sessions: Sessions, directory: KeycloakAccountDirectory, codes: list[str]
) -> None:
    first, second = codes[1], codes[2]
    for code in (first, second):
        await _register(sessions, code)
    admin = principal("school_admin", org_unit=first)
    school_class, _ = await _organisation(sessions).create_class(admin, first, 2025, 1)
    mover, leaver, stayer = await _enrol(sessions, first, school_class.class_code, 3)
    assert (await StudentProvisioner(sessions, directory).run(COUNTY)).created >= 3

    # A move recorded straight in the table (as a roster import records one) and a leaver.
    async with sessions.begin() as session:
        await session.execute(
            update(students)
            .where(students.c.student_id == mover)
            .values(school_code=second, class_code=None)
        )
        await session.execute(
            update(students).where(students.c.student_id == leaver).values(status="left")
        )
    followed = await StudentProvisioner(sessions, directory).run(second)
    assert (followed.followed, followed.failed) == (1, 0)
    assert (await StudentProvisioner(sessions, directory).run(first)).followed == 1
    assert (await StudentProvisioner(sessions, directory).run(first)).followed == 0
    async with sessions() as session:
        names = dict(
            (
                await session.execute(
                    select(student_accounts.c.student_id, student_accounts.c.username).where(
                        student_accounts.c.student_id.in_([mover, leaver, stayer])
                    )
                )
            ).all()
        )
    moved = await directory.get(names[mover])
    assert moved is not None
    assert moved.org_unit == second
    assert moved.group_paths == frozenset({f"{COUNTY_GROUP}/{second}"})
    assert names[mover].startswith(f"s{first}-")  # the login name stays
    gone = await directory.get(names[leaver])
    assert gone is not None
    assert not gone.enabled

    # identity's sequence behind its own names: it catches up instead of failing.
    async with sessions.begin() as session:
        await session.execute(
            update(student_login_sequences)
            .where(student_login_sequences.c.school_code == first)
            .values(last_value=0)
        )
    (newcomer,) = await _enrol(sessions, first, school_class.class_code, 1)
    caught_up = await StudentProvisioner(sessions, directory).run(first)
    assert (caught_up.created, caught_up.failed) == (1, 0)

    # identity's database restored from before these accounts, Keycloak not: the names it
    # allocates again are Keycloak's accounts of other students and must not be handed out.
    async with sessions.begin() as session:
        await session.execute(
            delete(student_accounts).where(student_accounts.c.school_code == first)
        )
        await session.execute(
            delete(student_login_sequences).where(student_login_sequences.c.school_code == first)
        )
    refused = await StudentProvisioner(sessions, directory).run(first)
    assert refused.created == 0
    assert refused.failed == 2  # the stayer and the newcomer (the other two left the school)
    async with sessions() as session:
        provisioned = (
            await session.execute(
                select(student_accounts.c.provisioned_at).where(
                    student_accounts.c.student_id.in_([stayer, newcomer])
                )
            )
        ).scalars()
        assert list(provisioned) == [None, None]
