"""Benchmark (not a timed test): partner-unit messages through the real broker, the real
identity (MatchStudent, ListResponders, with alerts' own Keycloak token) and PostgreSQL.

1. Enrols ``--students`` students at the demo school (class one) through the gateway as the
   demo school admin, with fresh national student numbers.
2. Latency: sends ``--messages`` good reports as the police unit at a steady ``--rate`` and
   measures, per message, produce → the responder's notification record (p50, p99).
3. Drain: with the consumers stopped, pre-fills a backlog of ``--backlog`` reports (good ones,
   unknown students and malformed JSON), starts the consumers and measures messages/s until
   every one is accounted for.
4. Exactly once: alerts + review tasks = messages sent, one partner-report row per external id.

The consumers run in this process (``alerts consume units``' builder, ``--consumers`` of
them, batches of ``--batch``) against a throwaway schema of the alerts database, so the live
service's data is not touched. The local stack's own ``alerts consume units`` is stopped
meanwhile and this process takes its place in its consumer group (``alerts.units``): otherwise
both would handle every report, the machine would do the work twice, and the live database
would fill with the benchmark's alerts. It is started again at the end, after the benchmark's
reports (a partner report sent to the local stack during the run lands in the throwaway
schema). Needs `make up` (gateway, identity, Keycloak, Kafka, PostgreSQL)::

    uv run --frozen python services/alerts/benchmarks/unit_messages.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from alerts_stack import (
    POLICE,
    POLICE_TOPIC,
    UnitProducer,
    document,
    encode,
    settings_for,
    throwaway_schema,
)

from alerts.adapters.db.tables import alerts, notifications, review_tasks, unit_reports
from alerts.bootstrap import UNITS_GROUP, Alerts, build_units_consumer
from xinyu_e2e import GATEWAY_URL, auth
from xinyu_e2e.seed import CLASS_ONE, DEMO_COUNTY, DEMO_SCHOOL

UNKNOWN_NUMBER = "G360702200001010000"
ROOT = Path(__file__).resolve().parents[3]
LIVE_UNITS_CONSUMER = "services:alerts-units-consumer"
DEBUG = False


def student_number(n: int) -> str:
    """The benchmark's students have fixed numbers, so a re-run finds them enrolled (enrolling
    the same number at the same school again changes nothing)."""
    return f"G3607022099010{n:05d}"


def enrol_students(count: int) -> list[str]:
    numbers = []
    headers = auth("school.admin")
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as gateway:
        for n in range(count):
            number = student_number(n)
            reply = gateway.post(
                "/v1/students",
                json={
                    "student_number": number,
                    "full_name": f"基准学生{n}",
                    "school_code": DEMO_SCHOOL,
                    "county_code": DEMO_COUNTY,
                    "gender": "female" if n % 2 else "male",
                    "class_code": CLASS_ONE,
                },
                headers=headers,
            )
            if reply.status_code not in (200, 201):
                raise SystemExit(f"enrolling failed: {reply.status_code} {reply.text[:200]}")
            numbers.append(number)
    return numbers


@dataclass
class Figures:
    p50_ms: float
    p99_ms: float
    max_ms: float
    latency_messages: int
    drain_messages: int
    drain_seconds: float
    drain_with_join_seconds: float
    sent: int
    alerts: int
    reviews: int
    partner_rows: int

    @property
    def drain_rate(self) -> float:
        return self.drain_messages / self.drain_seconds if self.drain_seconds else 0.0


WARM_UP = 64


async def warm_up(
    unit: UnitProducer,
    sessions: async_sessionmaker[AsyncSession],
    numbers: list[str],
    marker: str,
    sent: int,
) -> None:
    for round_ in range(3):
        for n in range(WARM_UP // 4 if round_ < 2 else WARM_UP // 2):
            warm = f"W-{marker}-{round_}-{n}"
            unit.send(POLICE_TOPIC, encode(document(warm, number=numbers[0])), key=warm)
        unit.flush()
        await asyncio.sleep(3.0)
    await wait_until(sessions, marker, sent + WARM_UP, 120)


async def handling_span(sessions: async_sessionmaker[AsyncSession], prefix: str) -> float:
    """Seconds from the first to the last backlog report handled (the group already joined)."""
    async with sessions() as session:
        first, last = (
            await session.execute(
                select(
                    func.min(unit_reports.c.received_at), func.max(unit_reports.c.received_at)
                ).where(unit_reports.c.external_id.like(prefix))
            )
        ).one()
        tasks_first, tasks_last = (
            await session.execute(
                select(
                    func.min(review_tasks.c.created_at), func.max(review_tasks.c.created_at)
                ).where(review_tasks.c.external_id.like(prefix))
            )
        ).one()
    start_ = min(t for t in (first, tasks_first) if t is not None)
    end = max(t for t in (last, tasks_last) if t is not None)
    return float((end - start_).total_seconds())


async def count(sessions: async_sessionmaker[AsyncSession], table, marker: str) -> int:  # type: ignore[no-untyped-def]
    """This run's rows only (its external ids carry ``marker``): other tests may write to the
    same topic meanwhile."""
    like = f"%-{marker}-%"
    async with sessions() as session:
        if table is alerts:
            query = (
                select(func.count())
                .select_from(
                    alerts.join(unit_reports, alerts.c.unit_report_id == unit_reports.c.report_id)
                )
                .where(unit_reports.c.external_id.like(like))
            )
        else:
            query = select(func.count()).select_from(table).where(table.c.external_id.like(like))
        return int(await session.scalar(query) or 0)


async def accounted(sessions: async_sessionmaker[AsyncSession], marker: str) -> int:
    return await count(sessions, alerts, marker) + await count(sessions, review_tasks, marker)


async def wait_until(
    sessions: async_sessionmaker[AsyncSession], marker: str, total: int, within: float
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (done := await accounted(sessions, marker)) >= total:
            return
        if DEBUG:
            async with sessions() as session:
                kinds = (
                    await session.execute(select(review_tasks.c.kind, review_tasks.c.external_id))
                ).all()
            print("accounted", done, "of", total, kinds, file=sys.stderr)
        await asyncio.sleep(0.05 if not DEBUG else 2.0)
    found = await accounted(sessions, marker)
    raise SystemExit(f"only {found} of {total} accounted for in {within}s")


@contextlib.contextmanager
def live_units_consumer_paused() -> Iterator[None]:
    """Stops the local stack's partner-report consumer for the run, and starts it again."""
    stack = [str(ROOT / "infra" / "local" / "stack"), "ctl"]
    subprocess.run([*stack, "stop", LIVE_UNITS_CONSUMER], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([*stack, "start", LIVE_UNITS_CONSUMER], check=False, capture_output=True)


def start(built: Alerts) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(job()) for job in built.background()]


async def stop(built: Alerts, tasks: list[asyncio.Task[None]]) -> None:
    built.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await built.close()


async def run(args: argparse.Namespace) -> Figures:
    numbers = enrol_students(args.students)
    async with throwaway_schema("alerts_bench") as schema:
        settings = settings_for(schema)
        # The live consumer's group (it is stopped): the benchmark's reports are handled once.
        group = UNITS_GROUP
        consumers = {"instances": args.consumers, "max_batch": args.batch}
        unit = UnitProducer(POLICE)
        marker = uuid.uuid4().hex[:8]
        sent = 0

        # --- latency: a steady trickle of good reports --------------------------------------
        built = build_units_consumer(settings, group_id=group, **consumers)
        sessions = built.core.sessions
        tasks = start(built)
        # Warm-up until every consumer holds its partitions (tokens, connections, group joins
        # and rebalances are not what is measured): keyed reports over every partition.
        await warm_up(unit, sessions, numbers, marker, sent)
        sent += WARM_UP
        interval = 1.0 / args.rate
        for n in range(args.messages):
            external_id = f"L-{marker}-{n}"
            unit.send(
                POLICE_TOPIC,
                encode(document(external_id, number=numbers[n % len(numbers)])),
                key=external_id,
            )
            sent += 1
            await asyncio.sleep(interval)
        unit.flush()
        await wait_until(sessions, marker, sent, 120)
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(unit_reports.c.external_id, func.min(notifications.c.requested_at))
                    .join(alerts, alerts.c.unit_report_id == unit_reports.c.report_id)
                    .join(notifications, notifications.c.alert_id == alerts.c.alert_id)
                    .where(unit_reports.c.external_id.like(f"L-{marker}-%"))
                    .group_by(unit_reports.c.external_id)
                )
            ).all()
        latencies = sorted((row[1].timestamp() - unit.sent_at[row[0]]) * 1000 for row in rows)
        if len(latencies) != args.messages:
            raise SystemExit(f"{len(latencies)} of {args.messages} reached a responder")
        await stop(built, tasks)

        # --- drain: a backlog, then the consumers --------------------------------------------
        backlog_start = sent
        for n in range(args.backlog):
            external_id = f"D-{marker}-{n}"
            if n % 20 == 7:
                # Valid JSON the schema refuses (DLQ and a review task naming its external id).
                refused = {**document(external_id, number=UNKNOWN_NUMBER), "category": "gossip"}
                unit.send(POLICE_TOPIC, encode(refused), key=external_id)
            elif n % 20 == 3:
                body = encode(document(external_id, number=UNKNOWN_NUMBER))
                unit.send(POLICE_TOPIC, body, key=external_id)
            else:
                body = encode(document(external_id, number=numbers[n % len(numbers)]))
                unit.send(POLICE_TOPIC, body, key=external_id)
            sent += 1
        if unit.flush() or unit.errors:
            raise SystemExit("the unit's producer could not deliver the backlog")
        built = build_units_consumer(settings, group_id=group, **consumers)
        sessions = built.core.sessions
        began = time.monotonic()
        tasks = start(built)
        await wait_until(sessions, marker, sent, 600)
        with_join = time.monotonic() - began
        drain_seconds = await handling_span(sessions, f"D-{marker}-%")
        await asyncio.sleep(2.0)  # a duplicate would show now
        figures = Figures(
            p50_ms=statistics.median(latencies),
            p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            max_ms=latencies[-1],
            latency_messages=len(latencies),
            drain_messages=sent - backlog_start,
            drain_seconds=drain_seconds,
            drain_with_join_seconds=with_join,
            sent=sent,
            alerts=await count(sessions, alerts, marker),
            reviews=await count(sessions, review_tasks, marker),
            partner_rows=await count(sessions, unit_reports, marker),
        )
        await stop(built, tasks)
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="latency phase, messages/s")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="most reports per transaction")
    args = parser.parse_args(argv)
    with live_units_consumer_paused():
        figures = asyncio.run(run(args))
    exact = figures.alerts + figures.reviews == figures.sent
    print(
        "\n".join(
            [
                f"partner message -> responder notification ({figures.latency_messages} messages"
                f" at {args.rate:g}/s): p50 {figures.p50_ms:.0f} ms, p99 {figures.p99_ms:.0f} ms,"
                f" max {figures.max_ms:.0f} ms (target p99 < 500 ms, aim 200 ms)",
                f"backlog drain: {figures.drain_messages} messages in {figures.drain_seconds:.1f} s"
                f" = {figures.drain_rate:.0f} messages/s with {args.consumers} consumers,"
                f" batches of up to {args.batch}"
                f" (target >= 200/s); {figures.drain_with_join_seconds:.1f} s including the"
                " consumer group's join",
                f"accounted for: sent {figures.sent}, alerts {figures.alerts} + review tasks"
                f" {figures.reviews} = {figures.alerts + figures.reviews}"
                f" ({'exactly once' if exact else 'MISMATCH'}); partner-report rows"
                f" {figures.partner_rows}",
            ]
        )
    )
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
