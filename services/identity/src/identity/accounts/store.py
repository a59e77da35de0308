"""PostgreSQL side of students' accounts: login-name allocation, provisioning state, activation
codes (keyed hashes) and the audit of every issuance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.accounts.activation import Batch, ClassAccounts, PendingStudent
from identity.adapters.db.tables import (
    activation_code_batches,
    classes,
    student_accounts,
    student_login_sequences,
    students,
)
from identity.domain.student_accounts import MAX_FAILED_ATTEMPTS, ActivationState, login_name
from xinyu_core.audit import ALLOWED, AUDIT_TOPIC, access_audited
from xinyu_core.auth import Principal
from xinyu_core.errors import FailedPrecondition
from xinyu_core.messaging import OutboxWriter

SERVICE = "identity"
ISSUE_ACTION = "/xinyu.identity.v1.StudentAccountService/IssueActivationCodes"
ACTIVATE_ACTION = "/xinyu.identity.v1.StudentAccountService/ActivateStudentAccount"
ISSUED = "activation-codes-issued"
ACTIVATED = "account-activated"


async def allocate_login_names(
    session: AsyncSession, wanted: Mapping[str, Sequence[UUID]]
) -> dict[UUID, str]:
    """New login names for students without one, per school (``wanted``: school → students), in
    the caller's transaction. Students who got a row meanwhile (another run) keep theirs. Should
    the school's sequence be behind its own names (a sequence row lost or restored), it is moved
    past the highest one and the rest are allocated again."""
    for school_code, ids in sorted(wanted.items()):
        remaining = list(ids)
        for attempt in range(2):
            if not remaining:
                break
            if attempt:
                await _catch_up(session, school_code)
            first = await _reserve(session, school_code, len(remaining))
            rows = [
                {
                    "student_id": student_id,
                    "username": login_name(school_code, first + i),
                    "school_code": school_code,
                }
                for i, student_id in enumerate(remaining)
            ]
            # Any conflict (the student already has a name, or the name is taken) skips the row.
            await session.execute(pg_insert(student_accounts).values(rows).on_conflict_do_nothing())
            have = await session.execute(
                select(student_accounts.c.student_id).where(
                    student_accounts.c.student_id.in_(remaining)
                )
            )
            named = set(have.scalars())
            remaining = [i for i in remaining if i not in named]
        if remaining:
            raise FailedPrecondition(f"no free login names at school {school_code}")
    all_ids = [i for ids in wanted.values() for i in ids]
    if not all_ids:
        return {}
    query = select(student_accounts.c.student_id, student_accounts.c.username).where(
        student_accounts.c.student_id.in_(all_ids)
    )
    return {row.student_id: row.username for row in await session.execute(query)}


async def _reserve(session: AsyncSession, school_code: str, count: int) -> int:
    """The first of ``count`` new numbers of the school's sequence."""
    sequence = student_login_sequences
    statement = pg_insert(sequence).values(school_code=school_code, last_value=count)
    last = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[sequence.c.school_code],
                set_={"last_value": sequence.c.last_value + statement.excluded.last_value},
            ).returning(sequence.c.last_value)
        )
    ).scalar_one()
    return int(last) - count + 1


async def _catch_up(session: AsyncSession, school_code: str) -> None:
    highest = (
        await session.execute(
            select(
                func.max(
                    func.cast(func.substring(student_accounts.c.username, r"-(\d+)$"), Integer)
                )
            ).where(student_accounts.c.username.like(f"s{school_code}-%"))
        )
    ).scalar_one_or_none()
    await session.execute(
        update(student_login_sequences)
        .where(student_login_sequences.c.school_code == school_code)
        .values(last_value=func.greatest(student_login_sequences.c.last_value, highest or 0))
    )


async def mark_provisioned(
    sessions: async_sessionmaker[AsyncSession], usernames: Sequence[str]
) -> None:
    """Keycloak has these accounts as their students are now: provisioned (if not yet), made
    for the student's current school, and disabled when the student is no longer enrolled."""
    if not usernames:
        return
    table = student_accounts
    async with sessions.begin() as session:
        await session.execute(
            update(table)
            .where(
                table.c.username.in_(list(usernames)),
                table.c.student_id == students.c.student_id,
            )
            .values(
                provisioned_at=func.coalesce(table.c.provisioned_at, func.now()),
                org_unit=students.c.school_code,
                disabled_at=case(
                    (students.c.status == "enrolled", None),
                    else_=func.coalesce(table.c.disabled_at, func.now()),
                ),
            )
        )


class SqlActivationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: OutboxWriter) -> None:
        self._sessions = sessions
        self._outbox = outbox

    async def class_accounts(self, class_code: str) -> ClassAccounts | None:
        async with self._sessions() as session:
            school = (
                await session.execute(
                    select(classes.c.school_code).where(classes.c.class_code == class_code)
                )
            ).scalar_one_or_none()
            if school is None:
                return None
            query = (
                select(
                    students.c.student_id,
                    students.c.full_name,
                    student_accounts.c.username,
                    student_accounts.c.provisioned_at,
                    student_accounts.c.activated_at,
                )
                .select_from(students.outerjoin(student_accounts))
                .where(students.c.class_code == class_code, students.c.status == "enrolled")
                .order_by(student_accounts.c.username, students.c.student_id)
            )
            rows: list[Any] = list(await session.execute(query))
        pending = [
            PendingStudent(r.student_id, r.username, r.full_name)
            for r in rows
            if r.provisioned_at is not None and r.activated_at is None
        ]
        return ClassAccounts(
            school_code=str(school),
            pending=pending,
            without_account=sum(1 for r in rows if r.provisioned_at is None),
            already_activated=sum(1 for r in rows if r.activated_at is not None),
        )

    async def save_batch(
        self, principal: Principal, batch: Batch, hashes: Mapping[UUID, str]
    ) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                pg_insert(activation_code_batches).values(
                    batch_id=batch.batch_id,
                    class_code=batch.class_code,
                    school_code=batch.school_code,
                    issued_by=principal.subject[:64],
                    issued_by_client=principal.client_id[:64],
                    issued_at=batch.issued_at,
                    expires_at=batch.expires_at,
                    code_count=len(hashes),
                )
            )
            for student_id, code_hash in hashes.items():
                await session.execute(
                    update(student_accounts)
                    .where(
                        student_accounts.c.student_id == student_id,
                        student_accounts.c.activated_at.is_(None),
                    )
                    .values(
                        code_hash=code_hash,
                        code_expires_at=batch.expires_at,
                        code_used_at=None,
                        code_batch_id=batch.batch_id,
                        failed_attempts=0,
                    )
                )
            event = access_audited(
                service=SERVICE,
                principal=principal,
                action=ISSUE_ACTION,
                resource_type="activation-batch",
                resource_id=str(batch.batch_id),
                outcome=ALLOWED,
                reason=ISSUED,
            )
            await self._outbox.add(session, AUDIT_TOPIC, event)

    async def state(self, username: str) -> ActivationState | None:
        table = student_accounts
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(
                        table.c.username,
                        table.c.code_hash,
                        table.c.code_expires_at,
                        table.c.code_used_at,
                        table.c.failed_attempts,
                        table.c.activated_at,
                    ).where(table.c.username == username)
                )
            ).first()
        if row is None:
            return None
        return ActivationState(
            username=row.username,
            code_hash=row.code_hash,
            expires_at=row.code_expires_at,
            used_at=row.code_used_at,
            failed_attempts=row.failed_attempts,
            activated_at=row.activated_at,
        )

    async def reserve_attempt(self, username: str) -> bool:
        table = student_accounts
        async with self._sessions.begin() as session:
            counted = (
                await session.execute(
                    update(table)
                    .where(
                        table.c.username == username,
                        table.c.failed_attempts < MAX_FAILED_ATTEMPTS,
                    )
                    .values(failed_attempts=table.c.failed_attempts + 1, last_failed_at=func.now())
                    .returning(table.c.failed_attempts)
                )
            ).first()
        return counted is not None

    async def claim(self, username: str, code_hash: str, now: datetime) -> bool:
        table = student_accounts
        async with self._sessions.begin() as session:
            found = (
                await session.execute(
                    update(table)
                    .where(
                        table.c.username == username,
                        table.c.code_hash == code_hash,
                        table.c.code_used_at.is_(None),
                    )
                    .values(code_used_at=now)
                    .returning(table.c.student_id)
                )
            ).first()
        return found is not None

    async def release(self, username: str, code_hash: str) -> None:
        table = student_accounts
        async with self._sessions.begin() as session:
            await session.execute(
                update(table)
                .where(table.c.username == username, table.c.code_hash == code_hash)
                .values(
                    code_used_at=None,
                    failed_attempts=func.greatest(table.c.failed_attempts - 1, 0),
                )
            )

    async def activated(self, principal: Principal, username: str, now: datetime) -> None:
        table = student_accounts
        async with self._sessions.begin() as session:
            student_id = (
                await session.execute(
                    update(table)
                    .where(table.c.username == username)
                    .values(activated_at=now, failed_attempts=0)
                    .returning(table.c.student_id)
                )
            ).scalar_one()
            event = access_audited(
                service=SERVICE,
                principal=principal,
                action=ACTIVATE_ACTION,
                resource_type="student",
                resource_id=str(student_id),
                outcome=ALLOWED,
                reason=ACTIVATED,
            )
            await self._outbox.add(session, AUDIT_TOPIC, event)
