"""The account sync worker: brings people's Keycloak accounts in line with identity's records.

``People.register``, ``assign`` and ``end`` write a row to ``account_sync_requests`` in the
transaction of the change. This worker claims due rows (``FOR UPDATE SKIP LOCKED``, oldest
first, so several identity processes never sync the same person at once), leases them while it
talks to Keycloak, computes the :class:`~identity.domain.accounts.DesiredAccount` and calls
:func:`~identity.domain.accounts.sync` through identity's own client, one account at a time. On
success the row goes; on failure it stays with ``attempts + 1``, the error's class name (never a
message, which could carry personal data) and a backoff.

The same worker creates the Keycloak group of a newly registered school
(``school_group_requests``, written by the registration): groups first, so the school's staff,
who may have been synced without a group while it was missing, are queued again once it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import ColumnElement, Table, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.accounts.provisioning import tree_groups
from identity.adapters.db.repository import SqlPeople
from identity.adapters.db.tables import (
    account_sync_requests,
    org_units,
    people,
    school_group_requests,
    students,
)
from identity.adapters.keycloak.directory import GroupReport, GroupSpec
from identity.domain.account_state import AccountHome, desired_account
from identity.domain.accounts import GROUP_ROOT, AccountDirectory, AccountPlan, sync
from identity.domain.model import Person, PersonKind, Relationship, RelationshipKind
from xinyu_core.errors import Unavailable

log = logging.getLogger(__name__)


class SyncDirectory(AccountDirectory, Protocol):
    async def has_group(self, path: str) -> bool: ...

    async def mirror_groups(
        self, groups: Sequence[GroupSpec], *, bulk: bool = True
    ) -> GroupReport: ...


@dataclass(frozen=True)
class GroupOutcome:
    school_code: str
    ok: bool
    created: bool = False
    error_code: str = ""


@dataclass(frozen=True)
class Claim:
    person_id: UUID
    requested_at: datetime
    attempts: int


@dataclass(frozen=True)
class Outcome:
    person_id: UUID
    ok: bool
    summary: str = ""
    error_code: str = ""


class AccountSyncWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        directory: SyncDirectory,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_interval_seconds: float = 1.0,
        lease_seconds: int = 300,
        max_backoff_seconds: int = 600,
    ) -> None:
        self._sessions = sessions
        self._directory = directory
        self._clock = clock
        self._poll = poll_interval_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._max_backoff = max_backoff_seconds
        self._stopping = asyncio.Event()

    async def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Sync due requests until :meth:`stop`; sleeps ``poll_interval`` when there are none or
        after a failure (Keycloak or the database down must not turn into a busy loop)."""
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                group = await self.run_group_once()
                outcome = await self.run_once()
            except Exception:
                log.exception("account sync pass failed")
                group, outcome = None, None
            busy = (group is not None and group.ok) or (outcome is not None and outcome.ok)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll)

    async def drain(self, limit: int = 1000) -> list[Outcome]:
        """Run passes until nothing is due (for tests and one-off jobs)."""
        outcomes: list[Outcome] = []
        for _ in range(limit):
            if await self.run_group_once() is not None:
                continue
            outcome = await self.run_once()
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

    async def run_once(self) -> Outcome | None:
        """Claim the oldest due request and sync its person; None when nothing is due."""
        claim = await self._claim()
        if claim is None:
            return None
        try:
            person, relationships, home, today = await self._load(claim.person_id)
            if person is None:
                await self._done(claim)
                return Outcome(claim.person_id, ok=True, summary="no such person")
            desired = desired_account(person, relationships, today, home)
            if desired is None:
                found = await self._directory.disable(person.username)
                summary = "disabled" if found else "no account"
            else:
                if desired.group_path and not await self._directory.has_group(desired.group_path):
                    # The tree in Keycloak has no group for this unit (yet): org_unit is what
                    # tokens carry, so the account is synced without a group.
                    desired = replace(desired, group_path=None)
                change: AccountPlan = await sync(self._directory, desired)
                summary = change.summary()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code = type(exc).__name__
            await self._failed(claim, code)
            log.warning(
                "account sync failed",
                extra={
                    "person_id": str(claim.person_id),
                    "error_code": code,
                    "attempts": claim.attempts + 1,
                },
            )
            return Outcome(claim.person_id, ok=False, error_code=code)
        await self._done(claim)
        log.info("account synced", extra={"person_id": str(claim.person_id), "change": summary})
        return Outcome(claim.person_id, ok=True, summary=summary)

    async def run_group_once(self) -> GroupOutcome | None:
        """Claim the oldest due school group request and make the group exist; None when
        nothing is due. When the group had to be created, the school's staff are queued for an
        account sync, which now puts them into it."""
        claim = await self._claim_group()
        if claim is None:
            return None
        code, requested_at, attempts = claim
        try:
            async with self._sessions() as session, session.begin():
                # The school's group with its parents, as `identity provision groups` makes them.
                specs = await tree_groups(session, [code])
            if not any(spec.attributes.get("code") == code for spec in specs):
                await self._group_done(code, requested_at, created=False)
                return GroupOutcome(code, ok=True)
            report = await self._directory.mirror_groups(specs, bulk=False)
            if report.failed:
                raise Unavailable("; ".join(sorted(set(report.failed.values()))))
            created = report.created > 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = type(exc).__name__
            await self._group_failed(code, requested_at, attempts, error)
            log.warning(
                "school group sync failed",
                extra={"school_code": code, "error_code": error, "attempts": attempts + 1},
            )
            return GroupOutcome(code, ok=False, error_code=error)
        await self._group_done(code, requested_at, created=created)
        log.info("school group synced", extra={"school_code": code, "group_created": created})
        return GroupOutcome(code, ok=True, created=created)

    # --- database ---------------------------------------------------------------------------

    # Both queues (people's accounts, schools' groups) have the same shape: a key, when it was
    # requested, when it is due, attempts and the last error code.

    async def _claim_due(self, table: Table, key: str) -> Any | None:
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    select(table.c[key], table.c.requested_at, table.c.attempts)
                    .where(table.c.next_attempt_at <= func.now())
                    .order_by(table.c.requested_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            # A lease: should this process die mid-sync, another picks the request up later.
            await session.execute(
                update(table)
                .where(table.c[key] == row[0])
                .values(next_attempt_at=func.now() + self._lease)
            )
            return row

    async def _retry_later(
        self, table: Table, request: ColumnElement[bool], attempts: int, code: str
    ) -> None:
        backoff = timedelta(seconds=min(5 * 2 ** min(attempts, 10), self._max_backoff))
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(table)
                .where(request)
                .values(
                    attempts=table.c.attempts + 1,
                    last_error_code=code[:64],
                    next_attempt_at=func.now() + backoff,
                )
            )

    async def _claim_group(self) -> tuple[str, datetime, int] | None:
        row = await self._claim_due(school_group_requests, "school_code")
        return None if row is None else (str(row.school_code), row.requested_at, int(row.attempts))

    def _group_request(self, code: str, requested_at: datetime) -> ColumnElement[bool]:
        table = school_group_requests
        return and_(table.c.school_code == code, table.c.requested_at == requested_at)

    async def _group_done(self, code: str, requested_at: datetime, *, created: bool) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(school_group_requests).where(self._group_request(code, requested_at))
            )
            if created:
                staff = select(people.c.person_id).where(people.c.home_unit_code == code)
                for person_id in (await session.execute(staff)).scalars():
                    await SqlPeople(session).request_account_sync(person_id)

    async def _group_failed(
        self, code: str, requested_at: datetime, attempts: int, error: str
    ) -> None:
        request = self._group_request(code, requested_at)
        await self._retry_later(school_group_requests, request, attempts, error)

    async def _claim(self) -> Claim | None:
        row = await self._claim_due(account_sync_requests, "person_id")
        return None if row is None else Claim(row.person_id, row.requested_at, row.attempts)

    def _request(self, claim: Claim) -> ColumnElement[bool]:
        # Only the request we claimed: one recorded meanwhile has a newer requested_at.
        table = account_sync_requests
        return and_(
            table.c.person_id == claim.person_id, table.c.requested_at == claim.requested_at
        )

    async def _done(self, claim: Claim) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(account_sync_requests).where(self._request(claim)))

    async def _failed(self, claim: Claim, code: str) -> None:
        await self._retry_later(account_sync_requests, self._request(claim), claim.attempts, code)

    async def _load(
        self, person_id: UUID
    ) -> tuple[Person | None, list[Relationship], AccountHome | None, date]:
        today = self._clock().date()
        async with self._sessions() as session, session.begin():
            people = SqlPeople(session)
            person = await people.by_id(person_id)
            if person is None:
                return None, [], None, today
            relationships = list(await people.relationships_of(person_id, today))
            unit = person.home_unit_code
            if person.kind is PersonKind.GUARDIAN:
                children = sorted(
                    r.student_id
                    for r in relationships
                    if r.kind is RelationshipKind.GUARDIAN_OF and r.student_id is not None
                )
                unit = ""
                if children:
                    unit = (
                        await session.execute(
                            select(students.c.school_code).where(
                                students.c.student_id == children[0]
                            )
                        )
                    ).scalar_one()
            home = await _home(session, unit) if unit else None
            return person, relationships, home, today


async def _home(session: AsyncSession, code: str) -> AccountHome:
    row: Any = (
        await session.execute(
            select(org_units.c.kind, org_units.c.name, org_units.c.county_code).where(
                org_units.c.code == code
            )
        )
    ).first()
    if row is None or row.kind == "department":
        return AccountHome(org_unit=code)
    if row.kind == "city":
        return AccountHome(org_unit=code, group_path=GROUP_ROOT)
    if row.kind == "county":
        return AccountHome(org_unit=code, group_path=f"{GROUP_ROOT}/{row.name}")
    county = (
        await session.execute(select(org_units.c.name).where(org_units.c.code == row.county_code))
    ).scalar_one_or_none()
    if row.kind != "school" or county is None:
        return AccountHome(org_unit=code)
    return AccountHome(org_unit=code, group_path=f"{GROUP_ROOT}/{county}/{code}")
