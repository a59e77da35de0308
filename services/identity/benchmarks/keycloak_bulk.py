"""How fast can identity put students into Keycloak? One account at a time against the bulk path.

    uv run python services/identity/benchmarks/keycloak_bulk.py                 # 2,000 + 20,000
    uv run python services/identity/benchmarks/keycloak_bulk.py --single 200 --bulk 2000
    uv run python services/identity/benchmarks/keycloak_bulk.py --keycloak-db \\
        postgresql://keycloak:dev-db-keycloak@127.0.0.1:5433/keycloak      # + storage per user

Against the local Keycloak (infra/local/stack up): one account at a time as identity's own client
(IDENTITY_KEYCLOAK__CLIENT_ID/SECRET), partial imports as the bulk client identity-bulk
(IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID/SECRET), each from the environment or the local
defaults of infra/local/services.env. Synthetic students only: usernames
``<prefix>0000001``, names 学生0000001 / 基准, a school group of their own; everything with the
prefix, and the group, is deleted at the end, also after a failure. Phases:

  single     the sync a use case runs per person: lookup, create, role mapping (3 calls)
  bulk       bulk_upsert of new accounts: partial imports of --batch-size users
  re-import  the same bulk accounts again, skip only: what a repeated roster costs
  reconcile  --reconcile of them again with reconciling (3 reads each, no write)
  cleanup    one DELETE per account

It prints users/s for each, the bulk/single ratio and the time 1.6 million students would take
at those rates. Keycloak's admin events (its own audit log, kept 90 days) of the run stay.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import SecretStr

from identity.adapters.keycloak import KeycloakAccountDirectory, KeycloakAdminSettings
from identity.domain.accounts import DesiredAccount, sync
from xinyu_core.settings import KeycloakSettings

CITY_STUDENTS = 1_600_000
COUNTY_GROUP = "/ganzhou/章贡区"
# Well-formed (10 digits, inside 章贡区's 360702) but no school has this code.
SCHOOL_CODE = "3607029999"
KEYCLOAK_TABLES = (
    "user_entity",
    "user_attribute",
    "user_role_mapping",
    "user_group_membership",
    "credential",
    "admin_event_entity",
)


@dataclass
class Phase:
    name: str
    users: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.users / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<10} {self.users:>7} users {self.seconds:>8.1f} s"
            f" {self.rate:>8.1f} users/s"
        )


def student(prefix: str, n: int, group: str) -> DesiredAccount:
    return DesiredAccount(
        username=f"{prefix}{n:07d}",
        first_name=f"学生{n:07d}",
        last_name="基准",
        org_unit=SCHOOL_CODE,
        roles=frozenset({"student"}),
        group_path=group,
    )


async def timed(name: str, users: int, work: Callable[[], Awaitable[object]]) -> Phase:
    print(f"{name}: {users} users ...", flush=True)
    start = time.perf_counter()
    await work()
    phase = Phase(name, users, time.perf_counter() - start)
    print("  " + phase.line(), flush=True)
    return phase


async def bounded(
    items: list[DesiredAccount], work: Callable[[DesiredAccount], Awaitable[object]], n: int
) -> None:
    gate = asyncio.Semaphore(n)

    async def one(account: DesiredAccount) -> None:
        async with gate:
            await work(account)

    await asyncio.gather(*(one(a) for a in items))


def storage(db_url: str) -> dict[str, tuple[int, int]]:
    """Rows and bytes (with indexes and TOAST) of the tables Keycloak keeps people in."""
    import psycopg  # only with --keycloak-db

    found: dict[str, tuple[int, int]] = {}
    with psycopg.connect(db_url) as db:
        for table in KEYCLOAK_TABLES:
            rows = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - fixed names
            size = db.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
            found[table] = (int(rows[0]) if rows else 0, int(size[0]) if size else 0)
    return found


def print_storage(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], users: int
) -> None:
    print(f"\nKeycloak's database per provisioned student ({users} students):")
    total_bytes = 0
    for table in KEYCLOAK_TABLES:
        rows = after[table][0] - before[table][0]
        size = after[table][1] - before[table][1]
        total_bytes += size
        print(f"  {table:<22} {rows / users:>5.2f} rows  {size / users:>7.0f} bytes")
    print(
        f"  {'total':<22} {'':>10} {total_bytes / users:>7.0f} bytes"
        f"  → {total_bytes / users * CITY_STUDENTS / 2**30:.1f} GiB for {CITY_STUDENTS:,}"
    )


def hours(rate: float) -> str:
    return f"{CITY_STUDENTS / rate / 3600:.1f} h" if rate else "-"


async def run(ns: argparse.Namespace) -> int:
    keycloak = KeycloakSettings(
        issuer=os.environ.get("IDENTITY_KEYCLOAK__ISSUER", "http://127.0.0.1:8180/realms/xinyu"),
        client_id=os.environ.get("IDENTITY_KEYCLOAK__CLIENT_ID", "identity"),
        client_secret=SecretStr(
            os.environ.get("IDENTITY_KEYCLOAK__CLIENT_SECRET", "dev-kc-identity")
        ),
    )
    settings = KeycloakAdminSettings(
        bulk_client_id=os.environ.get("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID", "identity-bulk"),
        bulk_client_secret=SecretStr(
            os.environ.get("IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET", "dev-kc-identity-bulk")
        ),
        bulk_batch_size=ns.batch_size,
        bulk_concurrency=ns.concurrency,
        sync_concurrency=ns.single_concurrency,
    )
    directory = KeycloakAccountDirectory.from_settings(keycloak, settings)
    prefix = ns.prefix or f"zz-bench-{uuid.uuid4().hex[:6]}-"
    group = f"{COUNTY_GROUP}/{prefix}school"
    singles = [student(prefix, n, group) for n in range(ns.single)]
    bulk = [student(prefix, n, group) for n in range(ns.single, ns.single + ns.bulk)]
    print(
        f"prefix {prefix}  batch {ns.batch_size} x {ns.concurrency} in flight, "
        f"single path {ns.single_concurrency} in flight",
        flush=True,
    )
    phases: dict[str, Phase] = {}
    try:
        await directory.ensure_group(group, {"code": SCHOOL_CODE, "level": "school"})
        if singles:
            reads, writes = directory.calls.reads, directory.calls.writes
            phases["single"] = await timed(
                "single",
                len(singles),
                lambda: bounded(singles, lambda a: sync(directory, a), ns.single_concurrency),
            )
            calls = directory.calls.reads - reads + directory.calls.writes - writes
            print(f"  {calls / len(singles):.1f} admin calls per user")
        if bulk:
            report = None
            before = storage(ns.keycloak_db) if ns.keycloak_db else None

            async def first() -> None:
                nonlocal report
                report = await directory.bulk_upsert(bulk)

            phases["bulk"] = await timed("bulk", len(bulk), first)
            assert report is not None
            if report.failed or len(report.created) != len(bulk):
                print(f"  !! created {len(report.created)}, failed {len(report.failed)}")
                return 1
            print(f"  {-(-len(bulk) // ns.batch_size)} partial imports")
            after = storage(ns.keycloak_db) if ns.keycloak_db else None

            async def again() -> None:
                repeat = await directory.bulk_upsert(bulk, reconcile_existing=False)
                assert len(repeat.skipped) == len(bulk), "a repeated import created accounts"

            phases["re-import"] = await timed("re-import", len(bulk), again)
            sample = bulk[: ns.reconcile]
            if sample:

                async def reconcile() -> None:
                    repeat = await directory.bulk_upsert(sample)
                    assert len(repeat.unchanged) == len(sample), "reconciling changed accounts"

                phases["reconcile"] = await timed("reconcile", len(sample), reconcile)
            if before is not None and after is not None:
                print_storage(before, after, len(bulk))
    finally:
        total = len(singles) + len(bulk)

        async def cleanup() -> None:
            deleted = await directory.delete_by_prefix(prefix)
            try:
                await directory.delete_group(group)
            except Exception as exc:  # the group may never have been made
                print(f"  group not deleted: {type(exc).__name__}")
            print(f"  deleted {deleted} accounts")

        phases["cleanup"] = await timed("cleanup", total, cleanup)
        await directory.aclose()

    print("\nsummary")
    for phase in phases.values():
        print("  " + phase.line())
    single, bulk_phase = phases.get("single"), phases.get("bulk")
    if single and bulk_phase:
        print(f"  bulk / single: {bulk_phase.rate / single.rate:.1f}x")
        print(f"  {CITY_STUDENTS:,} students: single {hours(single.rate)}, ", end="")
        print(f"bulk {hours(bulk_phase.rate)}")
    if "re-import" in phases:
        print(f"  re-import of {CITY_STUDENTS:,} (skip only): {hours(phases['re-import'].rate)}")
    if "reconcile" in phases:
        print(f"  reconciling all {CITY_STUDENTS:,}: {hours(phases['reconcile'].rate)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--single", type=int, default=2000, help="accounts through the single path")
    parser.add_argument("--bulk", type=int, default=20000, help="accounts through the bulk path")
    parser.add_argument(
        "--reconcile", type=int, default=1000, help="bulk accounts to reconcile again"
    )
    parser.add_argument("--batch-size", type=int, default=KeycloakAdminSettings().bulk_batch_size)
    parser.add_argument("--concurrency", type=int, default=KeycloakAdminSettings().bulk_concurrency)
    parser.add_argument(
        "--single-concurrency", type=int, default=KeycloakAdminSettings().sync_concurrency
    )
    parser.add_argument(
        "--prefix", default="", help="username prefix (default: zz-bench-<random>-)"
    )
    parser.add_argument(
        "--keycloak-db", default="", help="Keycloak's database URL: report storage per user"
    )
    ns = parser.parse_args(argv)
    if ns.prefix and not ns.prefix.startswith("zz-"):
        parser.error("--prefix must start with zz- so no real account can match it")
    return asyncio.run(run(ns))


if __name__ == "__main__":
    sys.exit(main())
