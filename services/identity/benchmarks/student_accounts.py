"""How long do the student-account Jobs take? The school group tree and students' accounts.

    uv run python services/identity/benchmarks/student_accounts.py            # 3,000 + 3,000
    uv run python services/identity/benchmarks/student_accounts.py --groups 300 --students 500

Against the local stack (infra/local/stack up; identity's database migrated): identity's own
client and the bulk client identity-bulk, from the environment or infra/local/services.env.
Synthetic data only, all of it deleted at the end (also after a failure): group trees under
top-level groups ``zz-bench-…`` of their own, schools 3607029800-3607029899 of 章贡区 in
identity's database (inserted directly, so no event and no worker sees them) with their
students, and the accounts ``s36070298..-*`` and ``zz-bench-bare-…``.

Groups (``--groups`` schools under 18 county groups, as ``identity provision groups`` sends them):
  mirror        mirror_groups: list each parent's children, create the missing ones, one admin
                call each, IDENTITY_KEYCLOAK_ADMIN__SYNC_CONCURRENCY in flight, bulk client
  mirror again  the same tree again: what every later run of the Job costs (reads only)
  import        the same shape as one partial import (SKIP) of a new top-level group: the
                baseline, and why it is not used (an existing parent is skipped with all the
                children given under it: the last line says how many of a second import landed)

Students (``--students`` spread over schools of ``--per-school``):
  bare          bulk_upsert of the same number of accounts, no database: the Keycloak floor
  provision     StudentProvisioner.run(county): candidates, login names, groups, partial
                imports, provisioned_at; as ``identity provision students --scope`` runs it
  again         the same scope again: nothing to create
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from identity.accounts.provisioning import StudentProvisioner
from identity.adapters.db.tables import (
    org_units,
    schools,
    student_accounts,
    student_login_sequences,
    students,
)
from identity.adapters.keycloak import GroupSpec, KeycloakAccountDirectory, KeycloakAdminSettings
from identity.domain.student_accounts import student_account
from xinyu_core.db import make_session_factory
from xinyu_core.settings import KeycloakSettings

T = TypeVar("T")
SERVICES_ENV = Path(__file__).resolve().parents[3] / "infra" / "local" / "services.env"
COUNTY = "360702"
COUNTY_GROUP = "/ganzhou/章贡区"
SCHOOL_PREFIX = "36070298"
COUNTIES = 18
CITY_SCHOOLS = 3_000
CITY_STUDENTS = 1_600_000


def setting(name: str, default: str = "") -> str:
    if name in os.environ:
        return os.environ[name]
    for line in SERVICES_ENV.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == name and not line.lstrip().startswith("#"):
            return value
    return default


ISSUER = setting("IDENTITY_KEYCLOAK__ISSUER", "http://127.0.0.1:8180/realms/xinyu")
DATABASE_URL = setting("IDENTITY_DATABASE_URL")


def directory() -> KeycloakAccountDirectory:
    return KeycloakAccountDirectory.from_settings(
        KeycloakSettings(
            issuer=ISSUER,
            client_id=setting("IDENTITY_KEYCLOAK__CLIENT_ID"),
            client_secret=SecretStr(setting("IDENTITY_KEYCLOAK__CLIENT_SECRET")),
        ),
        KeycloakAdminSettings(
            bulk_client_id=setting("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID"),
            bulk_client_secret=SecretStr(setting("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET")),
        ),
    )


async def timed(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - started


def tree(root: str, schools_count: int) -> list[GroupSpec]:
    specs = [GroupSpec(f"/{root}", {"level": "city"})]
    specs += [GroupSpec(f"/{root}/county-{c:02d}", {"level": "county"}) for c in range(COUNTIES)]
    specs += [
        GroupSpec(
            f"/{root}/county-{n % COUNTIES:02d}/{3607000000 + n}",
            {"code": str(3607000000 + n), "level": "school"},
        )
        for n in range(schools_count)
    ]
    return specs


def as_import(root: str, specs: list[GroupSpec]) -> dict[str, Any]:
    """The same tree as one PartialImportRepresentation (nested subGroups)."""
    nodes: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name = spec.path.rpartition("/")[2]
        nodes[spec.path] = {
            "name": name,
            # Without the path Keycloak's import fails after writing (a null group in
            # GroupsPartialImport.getModelId, answered 500).
            "path": spec.path,
            "attributes": {k: [v] for k, v in spec.attributes.items()},
            "subGroups": [],
        }
        parent = spec.path.rpartition("/")[0]
        if parent in nodes:
            nodes[parent]["subGroups"].append(nodes[spec.path])
    return {"ifResourceExists": "SKIP", "groups": [nodes[f"/{root}"]]}


async def partial_import(payload: dict[str, Any]) -> dict[str, Any]:
    server = ISSUER.rpartition("/realms/")[0]
    realm = ISSUER.rpartition("/realms/")[2]
    async with httpx.AsyncClient(timeout=600) as http:
        token = (
            await http.post(
                f"{ISSUER}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": setting("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID"),
                    "client_secret": setting("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET"),
                },
            )
        ).json()["access_token"]
        reply = await http.post(
            f"{server}/admin/realms/{realm}/partialImport",
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
        )
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result


async def count_groups(kc: KeycloakAccountDirectory, path: str) -> int:
    group = await kc.admin.a_get_group_by_path(path)
    return int(group.get("subGroupCount", 0))


async def bench_groups(kc: KeycloakAccountDirectory, count: int, run: str) -> list[str]:
    lines = []
    mirrored, imported = f"zz-bench-mirror-{run}", f"zz-bench-import-{run}"
    specs = tree(mirrored, count)
    try:
        report, seconds = await timed(lambda: kc.mirror_groups(specs))
        assert not report.failed, report.failed
        lines.append(
            f"mirror         {len(specs):>6} groups {seconds:>7.1f} s"
            f" {len(specs) / seconds:>7.1f} groups/s  (created {report.created})"
        )
        mirror_rate = len(specs) / seconds
        reads = kc.calls.reads
        again, seconds = await timed(lambda: kc.mirror_groups(specs))
        lines.append(
            f"mirror again   {len(specs):>6} groups {seconds:>7.1f} s"
            f"  created {again.created}, {kc.calls.reads - reads} reads"
        )
        payload = as_import(imported, tree(imported, count))
        result, seconds = await timed(lambda: partial_import(payload))
        lines.append(
            f"import         {len(specs):>6} groups {seconds:>7.1f} s"
            f" {len(specs) / seconds:>7.1f} groups/s  (added {result.get('added')})"
        )
        # One more school under an existing county, by partial import: skipped with its parent.
        extra = tree(imported, count + 1)
        school = extra[-1]
        county = next(s for s in extra if s.path == school.path.rpartition("/")[0])
        result = await partial_import(as_import(imported, [extra[0], county, school]))
        under = await count_groups(kc, county.path)
        wanted = sum(1 for s in extra if s.path.startswith(county.path + "/"))
        lines.append(
            f"import of 1 new school under an existing county: added {result.get('added')},"
            f" skipped {result.get('skipped')}; the county has {under} of {wanted} schools"
        )
        lines.append(
            f"mirror / import: {mirror_rate / (len(specs) / seconds):.2f};"
            f" {CITY_SCHOOLS:,} schools at the mirror's rate:"
            f" {(CITY_SCHOOLS + COUNTIES + 1) / mirror_rate:.0f} s"
        )
    finally:
        for root in (mirrored, imported):
            if await kc.has_group(f"/{root}"):
                await kc.delete_group(f"/{root}")
    return lines


async def add_schools(sessions: async_sessionmaker[AsyncSession], codes: list[str]) -> None:
    async with sessions.begin() as session:
        await session.execute(
            insert(org_units),
            [
                {
                    "code": c,
                    "kind": "school",
                    "name": f"基准学校{c[-2:]}",
                    "parent_code": COUNTY,
                    "county_code": COUNTY,
                    "school_code": c,
                }
                for c in codes
            ],
        )
        await session.execute(
            insert(schools), [{"school_code": c, "school_type": "junior"} for c in codes]
        )


async def add_students(
    sessions: async_sessionmaker[AsyncSession], codes: list[str], count: int
) -> None:
    rows = [
        {
            "student_id": uuid.uuid4(),
            "student_number_hash": secrets.token_hex(32),
            "student_number_cipher": secrets.token_bytes(40),
            "student_number_masked": "G**************0000",
            "full_name": "基准学生",
            "school_code": codes[n % len(codes)],
            "county_code": COUNTY,
            "enrolled_at": datetime.now(UTC),
        }
        for n in range(count)
    ]
    async with sessions.begin() as session:
        for i in range(0, len(rows), 5000):
            await session.execute(insert(students), rows[i : i + 5000])


async def forget(
    sessions: async_sessionmaker[AsyncSession], kc: KeycloakAccountDirectory, codes: list[str]
) -> int:
    deleted = 0
    for code in codes:
        deleted += await kc.delete_by_prefix(f"s{code}-")
        if await kc.has_group(f"{COUNTY_GROUP}/{code}"):
            await kc.delete_group(f"{COUNTY_GROUP}/{code}")
    async with sessions.begin() as session:
        ids = select(students.c.student_id).where(students.c.school_code.in_(codes))
        await session.execute(
            delete(student_accounts).where(student_accounts.c.student_id.in_(ids))
        )
        await session.execute(delete(students).where(students.c.school_code.in_(codes)))
        await session.execute(delete(schools).where(schools.c.school_code.in_(codes)))
        await session.execute(delete(org_units).where(org_units.c.code.in_(codes)))
        await session.execute(
            delete(student_login_sequences).where(student_login_sequences.c.school_code.in_(codes))
        )
    return deleted


async def bench_students(
    kc: KeycloakAccountDirectory, count: int, per_school: int, run: str
) -> list[str]:
    lines = []
    engine = create_async_engine(DATABASE_URL)
    sessions = make_session_factory(engine)
    async with sessions() as session:
        taken = set(
            (
                await session.execute(
                    select(org_units.c.code).where(org_units.c.code.like(f"{SCHOOL_PREFIX}%"))
                )
            ).scalars()
        )
    if taken:
        raise SystemExit(f"schools {SCHOOL_PREFIX}xx exist: an earlier run left them? {taken}")
    codes = [f"{SCHOOL_PREFIX}{n:02d}" for n in range(max(1, -(-count // per_school)))]
    bare_prefix = f"zz-bench-bare-{run}-"
    deleted = 0
    try:
        await add_schools(sessions, codes)
        await kc.mirror_groups(
            [GroupSpec(f"{COUNTY_GROUP}/{c}", {"code": c, "level": "school"}) for c in codes]
        )
        bare = [
            student_account(f"{bare_prefix}{n:07d}", codes[0], f"{COUNTY_GROUP}/{codes[0]}")
            for n in range(count)
        ]
        report, bare_seconds = await timed(lambda: kc.bulk_upsert(bare, reconcile_existing=False))
        assert len(report.created) == count, report.failed
        lines.append(
            f"bare           {count:>6} students {bare_seconds:>7.1f} s"
            f" {count / bare_seconds:>7.1f} students/s"
        )
        await add_students(sessions, codes, count)
        provisioner = StudentProvisioner(sessions, kc)
        summary, seconds = await timed(lambda: provisioner.run(COUNTY))
        assert summary.created == count, (summary.created, dict(summary.failures))
        lines.append(
            f"provision      {count:>6} students {seconds:>7.1f} s"
            f" {count / seconds:>7.1f} students/s  ({len(codes)} schools)"
        )
        again, again_seconds = await timed(lambda: StudentProvisioner(sessions, kc).run(COUNTY))
        lines.append(
            f"again          {again.candidates:>6} students {again_seconds:>7.1f} s"
            f"  created {again.created}"
        )
        lines.append(
            f"provision / bare: {(count / seconds) / (count / bare_seconds):.2f};"
            f" {CITY_STUDENTS:,} students at the provision rate:"
            f" {CITY_STUDENTS / (count / seconds) / 60:.0f} min"
        )
    finally:
        deleted += await kc.delete_by_prefix(bare_prefix)
        deleted += await forget(sessions, kc, codes)
        await engine.dispose()
    lines.append(f"cleanup: deleted {deleted} accounts, {len(codes)} schools and their groups")
    return lines


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=CITY_SCHOOLS)
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--per-school", type=int, default=500)
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:6]
    kc = directory()
    try:
        print(f"sync concurrency {KeycloakAdminSettings().sync_concurrency}, run {run}")
        if args.groups:
            print("\n".join(await bench_groups(kc, args.groups, run)))
        if args.students:
            print("\n".join(await bench_students(kc, args.students, args.per_school, run)))
    finally:
        await kc.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
