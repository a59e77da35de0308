"""Bulk Jobs that bring Keycloak in line with identity's organisation and students:
``identity provision groups`` (the school group tree) and ``identity provision students --scope
CODE`` (students' accounts). Both run as the bulk client ``identity-bulk``, are idempotent (a
second run only reads), and log progress as counts and unit codes, never a person.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from identity.accounts.store import allocate_login_names, mark_provisioned
from identity.adapters.db.tables import org_units, student_accounts, students
from identity.adapters.keycloak import GroupReport, GroupSpec
from identity.domain.accounts import GROUP_ROOT, BulkReport, DesiredAccount
from identity.domain.model import CITY_CODE
from identity.domain.student_accounts import school_group_path, scope_kind, student_account
from xinyu_core.errors import InvalidArgument

log = logging.getLogger(__name__)

TAKEN = (
    "a newly allocated login name is already in Keycloak: student_login_sequences is behind "
    "Keycloak (a restored database?); set it past the school's highest s<school>-<n>"
)


class BulkDirectory(Protocol):
    async def bulk_upsert(
        self, accounts: Sequence[DesiredAccount], *, reconcile_existing: bool = True
    ) -> BulkReport: ...

    async def mirror_groups(
        self, groups: Sequence[GroupSpec], *, bulk: bool = True
    ) -> GroupReport: ...


# --- the group tree ---------------------------------------------------------------------------


async def tree_groups(
    session: AsyncSession, school_codes: Sequence[str] | None = None
) -> list[GroupSpec]:
    """The ganzhou › county › school groups of identity's registered schools (all of them, or
    those of ``school_codes`` with their parents), as the account sync names them: counties by
    their name (attribute ``code``), schools by their code."""
    county = aliased(org_units)
    query = (
        select(org_units.c.code, org_units.c.name, county.c.code.label("county_code"))
        .add_columns(county.c.name.label("county_name"))
        .join(county, county.c.code == org_units.c.county_code)
        .where(org_units.c.kind == "school")
        .order_by(org_units.c.code)
    )
    if school_codes is not None:
        query = query.where(org_units.c.code.in_(list(school_codes)))
    rows: list[Any] = list(await session.execute(query))
    specs = [GroupSpec(GROUP_ROOT, {"code": CITY_CODE, "level": "city"})]
    counties = sorted({(r.county_name, r.county_code) for r in rows})
    if school_codes is None:
        every = select(org_units.c.name, org_units.c.code).where(org_units.c.kind == "county")
        counties = sorted({(r.name, r.code) for r in await session.execute(every)})
    specs += [
        GroupSpec(f"{GROUP_ROOT}/{name}", {"code": code, "level": "county"})
        for name, code in counties
    ]
    specs += [
        GroupSpec(
            school_group_path(r.county_name, r.code),
            {"code": r.code, "level": "school", "display_name": r.name},
        )
        for r in rows
    ]
    return specs


async def provision_groups(
    sessions: async_sessionmaker[AsyncSession], directory: BulkDirectory
) -> GroupReport:
    started = time.monotonic()
    async with sessions() as session:
        specs = await tree_groups(session)
    schools = sum(1 for s in specs if s.attributes.get("level") == "school")
    log.info("mirroring the school group tree", extra={"groups": len(specs), "schools": schools})
    report = await directory.mirror_groups(specs)
    log.info(
        "school group tree mirrored",
        extra={
            "groups": len(specs),
            "groups_created": report.created,
            "groups_existing": report.existing,
            "groups_failed": len(report.failed),
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    for path, reason in sorted(report.failed.items()):
        log.warning("group not mirrored", extra={"group_path": path, "reason": reason})
    return report


# --- students ---------------------------------------------------------------------------------


@dataclass
class ProvisionSummary:
    scope: str
    candidates: int = 0
    created: int = 0
    # Found in Keycloak already (an earlier run that died before recording them).
    existing: int = 0
    # Accounts brought in line because their student moved school or left since.
    followed: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return (self.created + self.existing) / self.seconds if self.seconds else 0.0


def _in_scope(scope: str) -> Any:
    kind = scope_kind(scope)
    if kind == "city":
        return students.c.school_code.is_not(None)
    if kind == "county":
        return students.c.county_code == scope
    return students.c.school_code == scope


class StudentProvisioner:
    """``identity provision students --scope CODE``: every enrolled student of the scope without
    a recorded account gets a login name (allocated and committed first, so a run that dies
    resumes with the same names), then the account in Keycloak by partial import (role
    ``student``, ``org_unit`` = the school, the school's group, no e-mail, no password, no
    name), in chunks; identity records which students have accounts (``provisioned_at``)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        directory: BulkDirectory,
        *,
        chunk_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._directory = directory
        self._chunk = chunk_size
        self._clock = clock
        self._group_of: dict[str, str | None] = {}

    def _candidates(self, scope: str, recheck: bool) -> Any:
        query = (
            select(
                students.c.student_id,
                students.c.school_code,
                student_accounts.c.username,
            )
            .select_from(students.outerjoin(student_accounts))
            .where(_in_scope(scope), students.c.status == "enrolled")
        )
        if not recheck:
            query = query.where(student_accounts.c.provisioned_at.is_(None))
        return query

    async def run(self, scope: str, *, recheck: bool = False) -> ProvisionSummary:
        """``recheck`` sends the students recorded as provisioned too (a realm restored from
        an older backup lacks them): Keycloak skips the ones it has at ~4,000/s."""
        summary = ProvisionSummary(scope)
        started = self._clock()
        async with self._sessions() as session:
            if scope != CITY_CODE:
                kind = scope_kind(scope)
                exists = select(org_units.c.code).where(
                    org_units.c.code == scope, org_units.c.kind == kind
                )
                if (await session.execute(exists)).first() is None:
                    raise InvalidArgument("scope", f"no such {kind} is registered")
            total = (
                await session.execute(
                    select(func.count()).select_from(self._candidates(scope, recheck).subquery())
                )
            ).scalar_one()
        summary.candidates = int(total)
        log.info("provisioning student accounts", extra={"scope": scope, "students": total})
        after: UUID | None = None
        while True:
            query = (
                self._candidates(scope, recheck).order_by(students.c.student_id).limit(self._chunk)
            )
            if after is not None:
                query = query.where(students.c.student_id > after)
            async with self._sessions.begin() as session:
                rows: list[Any] = list(await session.execute(query))
                if not rows:
                    break
                after = rows[-1].student_id
                wanted: dict[str, list[UUID]] = {}
                for row in rows:
                    if row.username is None:
                        wanted.setdefault(row.school_code, []).append(row.student_id)
                names = await allocate_login_names(session, wanted)
            await self._ensure_groups({r.school_code for r in rows})
            accounts = [
                student_account(
                    names.get(r.student_id) or r.username,
                    r.school_code,
                    self._group_of.get(r.school_code),
                )
                for r in rows
            ]
            report = await self._directory.bulk_upsert(accounts, reconcile_existing=False)
            # A login name allocated in this very run that Keycloak already has belongs to
            # somebody else (identity's database restored from an older backup, its sequence
            # behind Keycloak): never hand that account to this student.
            fresh = set(names.values())
            for username in [u for u in report.skipped if u in fresh]:
                report.skipped.remove(username)
                report.failed[username] = TAKEN
            await mark_provisioned(self._sessions, [*report.created, *report.skipped])
            summary.created += len(report.created)
            summary.existing += len(report.skipped)
            summary.failed += len(report.failed)
            summary.failures.update(report.failed.values())
            summary.seconds = self._clock() - started
            done = summary.created + summary.existing + summary.failed
            log.info(
                "student accounts progress",
                extra={
                    "scope": scope,
                    "done": done,
                    "students": summary.candidates,
                    "accounts_created": summary.created,
                    "accounts_existing": summary.existing,
                    "accounts_failed": summary.failed,
                    "per_second": round(summary.rate, 1),
                },
            )
        await self._follow(scope, summary)
        summary.seconds = self._clock() - started
        for reason, count in summary.failures.most_common():
            # Reasons name fields and rules (Keycloak's and the adapter's), never a person.
            log.warning("student accounts failed", extra={"reason": reason, "count": count})
        log.info(
            "student accounts provisioned",
            extra={
                "scope": scope,
                "students": summary.candidates,
                "accounts_created": summary.created,
                "accounts_existing": summary.existing,
                "accounts_followed": summary.followed,
                "accounts_failed": summary.failed,
                "seconds": round(summary.seconds, 1),
                "per_second": round(summary.rate, 1),
            },
        )
        return summary

    async def _follow(self, scope: str, summary: ProvisionSummary) -> None:
        """Accounts whose student moved to another school, or left, since Keycloak last heard:
        new ``org_unit`` and group, or disabled (sessions ended). Found by comparing identity's
        records, so a move recorded by a transfer or by a roster import is followed alike; one
        account at a time (partial import would skip them), in chunks."""
        table = student_accounts
        changed = (
            select(
                students.c.student_id,
                students.c.school_code,
                students.c.status,
                table.c.username,
            )
            .join(table, table.c.student_id == students.c.student_id)
            .where(
                _in_scope(scope),
                table.c.provisioned_at.is_not(None),
                or_(
                    and_(
                        students.c.status == "enrolled",
                        or_(
                            table.c.org_unit.is_distinct_from(students.c.school_code),
                            table.c.disabled_at.is_not(None),
                        ),
                    ),
                    and_(students.c.status != "enrolled", table.c.disabled_at.is_(None)),
                ),
            )
            .order_by(students.c.student_id)
            .limit(self._chunk)
        )
        after: UUID | None = None
        while True:
            query = changed if after is None else changed.where(students.c.student_id > after)
            async with self._sessions() as session:
                rows: list[Any] = list(await session.execute(query))
            if not rows:
                return
            after = rows[-1].student_id
            await self._ensure_groups({r.school_code for r in rows})
            accounts = [
                replace(
                    student_account(r.username, r.school_code, self._group_of.get(r.school_code)),
                    enabled=r.status == "enrolled",
                )
                for r in rows
            ]
            report = await self._directory.bulk_upsert(accounts, reconcile_existing=True)
            done = [*report.created, *report.updated, *report.unchanged]
            await mark_provisioned(self._sessions, done)
            summary.followed += len(done)
            summary.failed += len(report.failed)
            summary.failures.update(report.failed.values())
            log.info(
                "student accounts followed",
                extra={"scope": scope, "accounts_followed": summary.followed},
            )

    async def _ensure_groups(self, school_codes: set[str]) -> None:
        """The groups of the chunk's schools exist (usually mirrored already: one read each per
        run); a school whose group cannot be made is provisioned without a group."""
        missing = sorted(school_codes - self._group_of.keys())
        if not missing:
            return
        async with self._sessions() as session:
            specs = await tree_groups(session, missing)
        report = await self._directory.mirror_groups(specs)
        for spec in specs:
            code = spec.attributes.get("code", "")
            if spec.attributes.get("level") == "school":
                self._group_of[code] = None if spec.path in report.failed else spec.path
        for code in missing:
            self._group_of.setdefault(code, None)
