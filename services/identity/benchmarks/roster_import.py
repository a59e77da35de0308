"""Roster import at city scale against a bare PostgreSQL COPY of the same rows, in one run.

    uv run python services/identity/benchmarks/roster_import.py              # 1,600,000 rows
    uv run python services/identity/benchmarks/roster_import.py --rows 20000 --schools 60

Against the local PostgreSQL (infra/local/stack up), as identity's role, in a throwaway schema
``bench_roster_<hex>`` that gets identity's tables, a city, its 18 counties and --schools
schools; the schema and the CSV file are removed at the end, also after a failure. The rows are
invented but deterministic: names from a fixed list, resident IDs unique with valid GB 11643
check digits, the G-form student number built from them, spread over the schools.

  baseline  COPY of the CSV file (FORMAT csv, HEADER) into a plain table with the file's
            columns and no index: PostgreSQL's own parse-and-store rate
  stored    COPY of the same rows in the form ``students`` keeps them (what the import
            made of the file, dumped beforehand) into a copy of ``students`` with its
            indexes and class foreign key: PostgreSQL storing these rows where they belong
  import    the roster import from the same file, as a job runs it: parse, validate every
            field, hash and mask the resident IDs, hash, encrypt and mask the student
            numbers, stage with COPY, check against students, create the classes, merge into
            students and write the enrolment events (one per school and block), one
            transaction, progress on the job row

It prints rows/s of each, the import's rate as a ratio to both COPY rates, the import's
phases and the peak memory (RSS).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from identity.adapters.db.tables import metadata
from identity.domain.resident_id import ResidentIdProtector, check_character
from identity.domain.student_number import StudentNumberProtector
from identity.roster import tables as roster_tables
from identity.roster.importer import RosterImporter, Source
from identity.roster.model import JobStatus, RosterFormat
from identity.roster.run import SqlJobRun
from identity.roster.wiring import connector
from xinyu_core.crypto import FieldCipher

CITY_ROWS = 1_600_000
DEFAULT_URL = "postgresql+psycopg://identity:dev-db-identity@127.0.0.1:5433/identity"
COUNTIES = (
    "360702", "360703", "360704", "360722", "360723", "360724", "360725", "360726", "360728",
    "360729", "360730", "360731", "360732", "360733", "360734", "360735", "360781", "360783",
)  # fmt: skip
HEADER = ("学籍号", "姓名", "性别", "出生日期", "身份证件号", "学校标识码", "入学年份", "班级")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = (
    "伟芳娜英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉萍红梅"
    "鑫波斌宇浩凯健俊帆旭宁龙林欣怡涵轩雨晨琪诺桐"
)
FIRST_BIRTH = date(2008, 9, 1)
BIRTH_DAYS = 4380  # twelve years of birthdays: primary to senior school
KEY = b"benchmark-resident-id-key-0123456789"
FIELD_KEY = bytes(range(32))
assert roster_tables.roster_imports.metadata is metadata  # the job table is on identity's


def schools_of(count: int) -> list[tuple[str, str]]:
    """(school code, county) pairs, spread evenly over the counties."""
    return [(f"{COUNTIES[n % 18]}{n // 18 + 1:04d}", COUNTIES[n % 18]) for n in range(count)]


def rows(count: int, schools: list[tuple[str, str]]) -> Iterator[tuple[str, ...]]:
    """Deterministic students. Row i's county, birthday and sequence number are three digits of
    i in mixed radix (18, 4380, …), so resident IDs never repeat. Classes hold about 45, as
    Ganzhou's do: a school's students of one entry year share ceil(n / 45) classes."""
    by_county: dict[str, list[str]] = {}
    for school, county in schools:
        by_county.setdefault(county, []).append(school)
    per_cohort = count / len(schools) / (BIRTH_DAYS / 365)
    classes = max(1, round(per_cohort / 45))
    for i in range(count):
        county = COUNTIES[i % 18]
        day = (i // 18) % BIRTH_DAYS
        male = (i // 7) % 2 == 0
        sequence = (i // (18 * BIRTH_DAYS)) * 2 + (1 if male else 0)
        born = FIRST_BIRTH + timedelta(days=day)
        first17 = f"{county}{born:%Y%m%d}{sequence:03d}"
        resident_id = first17 + check_character(first17)
        candidates = by_county[county]
        school = candidates[(i // 18) % len(candidates)]
        name = SURNAMES[(i * 7) % len(SURNAMES)] + GIVEN[(i * 13) % len(GIVEN)]
        if i % 3:
            name += GIVEN[(i * 31) % len(GIVEN)]
        yield (
            "G" + resident_id,
            name,
            "男" if male else "女",
            born.isoformat(),
            resident_id,
            school,
            str(born.year + 7),
            str(1 + (i // 18 // len(candidates)) % classes),
        )


def write_csv(path: Path, count: int, schools: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows(count, schools))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def prepare(url: str, schema: str, schools: list[tuple[str, str]]) -> None:
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        with engine.begin() as connection:
            metadata.create_all(connection)
            connection.execute(
                text("INSERT INTO org_units (code, kind, name) VALUES ('360700', 'city', '赣州市')")
            )
            for county in COUNTIES:
                connection.execute(
                    text(
                        "INSERT INTO org_units (code, kind, name, parent_code, county_code)"
                        " VALUES (:c, 'county', :c, '360700', :c)"
                    ),
                    {"c": county},
                )
            connection.execute(
                text(
                    "INSERT INTO org_units (code, kind, name, parent_code, county_code,"
                    " school_code) VALUES (:s, 'school', :s, :c, :c, :s)"
                ),
                [{"s": school, "c": county} for school, county in schools],
            )
            connection.execute(
                text("INSERT INTO schools (school_code, school_type) VALUES (:s, 'twelve_year')"),
                [{"s": school} for school, _ in schools],
            )
    finally:
        engine.dispose()


def baseline(connect: Any, path: Path) -> float:
    """Seconds for a bare COPY of the file into a plain table with its columns."""
    with connect() as connection:
        connection.execute(
            "CREATE TABLE bench_baseline (student_number varchar(32), full_name varchar(50),"
            " gender varchar(8), birth_date date, resident_id varchar(18),"
            " school_code varchar(10), cohort smallint, class smallint)"
        )
        connection.commit()
        started = time.perf_counter()
        with (
            path.open("rb") as source,
            connection.cursor().copy(
                "COPY bench_baseline FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        connection.commit()
        return time.perf_counter() - started


def full_import(connect: Any, path: Path) -> tuple[float, Any]:
    """Seconds for the roster import of the file, as a job of the city runs it."""
    job_id = uuid.uuid4()
    with connect() as side:
        side.autocommit = True
        side.execute(
            "INSERT INTO roster_imports (job_id, scope_code, county_code, format, status,"
            " created_by) VALUES (%s, '360700', '', 'csv', 'validating', 'benchmark')",
            (job_id,),
        )
        run = SqlJobRun(side, job_id)
        protector = ResidentIdProtector(KEY)
        numbers = StudentNumberProtector(protector, FieldCipher(FIELD_KEY))
        importer = RosterImporter(connect, protector, numbers, clock=lambda: datetime.now(UTC))
        size = path.stat().st_size
        with path.open("rb") as source:
            started = time.perf_counter()
            outcome = importer.run(
                "360700",
                Source(RosterFormat.CSV, size, lambda: source.read(4 * 1024 * 1024)),
                run,
            )
            run.finish(outcome)
            elapsed = time.perf_counter() - started
    return elapsed, outcome


def stored_copy(connect: Any, workdir: Path) -> float:
    """Seconds for a bare COPY of the same rows in the form ``students`` stores them (hashes,
    ciphertext, masks, class codes: what the import made of the file, written out beforehand)
    into a fresh copy of ``students`` with its indexes and class foreign key. PostgreSQL's own
    rate for storing these rows where they belong, with no parsing, validation or events."""
    dump = workdir / "students.copy"
    with connect() as connection:
        cursor = connection.cursor()
        with dump.open("wb") as out, cursor.copy("COPY students TO STDOUT") as copy:
            for block in copy:
                out.write(block)
        cursor.execute("CREATE TABLE bench_stored (LIKE students INCLUDING ALL)")
        cursor.execute(
            "ALTER TABLE bench_stored ADD FOREIGN KEY (class_code) REFERENCES classes (class_code)"
        )
        connection.commit()
        started = time.perf_counter()
        with dump.open("rb") as source, cursor.copy("COPY bench_stored FROM STDIN") as copy:
            while block := source.read(1 << 20):
                copy.write(block)
        connection.commit()
        elapsed = time.perf_counter() - started
    dump.unlink()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=CITY_ROWS)
    parser.add_argument("--schools", type=int, default=3000)
    parser.add_argument(
        "--database-url", default=os.environ.get("IDENTITY_DATABASE_URL", DEFAULT_URL)
    )
    args = parser.parse_args(argv)
    schema = f"bench_roster_{uuid.uuid4().hex[:10]}"
    schools = schools_of(max(args.schools, 18))
    connect = connector(args.database_url, options=f"-csearch_path={schema}")
    workdir = tempfile.mkdtemp(prefix="roster-bench-")
    path = Path(workdir) / "roster.csv"
    try:
        started = time.perf_counter()
        write_csv(path, args.rows, schools)
        print(
            f"generated {args.rows:,} rows over {len(schools):,} schools,"
            f" {path.stat().st_size / 1e6:.1f} MB, in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        prepare(args.database_url, schema, schools)
        base_seconds = baseline(connect, path)
        base_rate = args.rows / base_seconds
        print(f"baseline COPY: {base_seconds:8.2f} s  {base_rate:12,.0f} rows/s", flush=True)
        before = peak_rss_mb()
        seconds, outcome = full_import(connect, path)
        rate = args.rows / seconds
        print(f"roster import: {seconds:8.2f} s  {rate:12,.0f} rows/s", flush=True)
        if outcome.status is not JobStatus.SUCCEEDED:
            print(f"import failed: {outcome.failure} {outcome.errors[:5]}", file=sys.stderr)
            return 1
        counts = outcome.counts
        print(f"ratio import/baseline: {rate / base_rate:.3f}")
        print(
            f"created {counts.rows_created:,}, updated {counts.rows_updated:,},"
            f" unchanged {counts.rows_unchanged:,}"
        )
        print("phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in outcome.timings.items()))
        print(f"peak RSS: {peak_rss_mb():.0f} MB (before the import: {before:.0f} MB)")
        stored_seconds = stored_copy(connect, Path(workdir))
        stored_rate = args.rows / stored_seconds
        print(
            f"stored-form COPY into a copy of students (indexes, FK): {stored_seconds:8.2f} s"
            f"  {stored_rate:12,.0f} rows/s"
        )
        print(f"ratio import/stored-form COPY: {rate / stored_rate:.3f}")
        return 0
    finally:
        path.unlink(missing_ok=True)
        os.rmdir(workdir)
        with connector(args.database_url)() as cleanup:
            cleanup.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            cleanup.commit()


if __name__ == "__main__":
    sys.exit(main())
