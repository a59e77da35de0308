"""Partner units' reports through the real broker and PostgreSQL: a good report becomes an
alert and receipts, a malformed one a dead letter with its reason and a review task, a repeat
nothing, a unit writing another unit's topic is refused by the broker, and a burst (optionally
across a broker restart) is accounted for exactly once. identity is a fake here (its own
integration tests cover MatchStudent); the benchmark uses the real one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alerts_fakes import FakeMatcher, FakeResponders, place
from alerts_stack import (
    CYBERSPACE,
    CYBERSPACE_TOPIC,
    POLICE,
    POLICE_TOPIC,
    Probe,
    Record,
    UnitProducer,
    document,
    encode,
    settings_for,
    throwaway_schema,
)
from confluent_kafka import KafkaError
from sqlalchemy import func, select

from alerts.adapters.db.tables import alerts, notifications, outbox, review_tasks, unit_reports
from alerts.bootstrap import Alerts, build_units_consumer
from alerts.domain.model import Match, MatchOutcome

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
RECEIPTS = f"alerts.{POLICE}.receipt.v1"
DLQ = f"{POLICE_TOPIC}.dlq"


@dataclass
class Running:
    alerts: Alerts
    matcher: FakeMatcher
    responders: FakeResponders
    tasks: list[asyncio.Task[None]]

    def good_number(self) -> str:
        number = f"G{uuid.uuid4().int % 10**18:018d}"
        student = place()
        self.responders.enrol(student)
        self.matcher.by_number[number] = Match(MatchOutcome.EXACT, student)
        return number

    async def count(self, table, **where: object) -> int:  # type: ignore[no-untyped-def]
        async with self.alerts.core.sessions() as session:
            query = select(func.count()).select_from(table)
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            return int(await session.scalar(query) or 0)

    async def count_like(self, table, prefix: str, **where: object) -> int:  # type: ignore[no-untyped-def]
        """Rows of this test's messages only (external ids starting with ``prefix``): other
        tests may write to the same topic meanwhile."""
        async with self.alerts.core.sessions() as session:
            if table is alerts:
                query = (
                    select(func.count())
                    .select_from(
                        alerts.join(
                            unit_reports, alerts.c.unit_report_id == unit_reports.c.report_id
                        )
                    )
                    .where(unit_reports.c.external_id.like(f"{prefix}%"))
                )
            else:
                query = (
                    select(func.count())
                    .select_from(table)
                    .where(table.c.external_id.like(f"{prefix}%"))
                )
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            return int(await session.scalar(query) or 0)

    async def wait(self, table, count: int, within: float = 60.0, **where: object) -> int:  # type: ignore[no-untyped-def]
        found = 0
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = await self.count(table, **where)
            if found >= count:
                return found
            await asyncio.sleep(0.2)
        return found


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    async with throwaway_schema("alerts_units") as schema:
        settings = settings_for(schema)
        group = f"alerts.units.tests-{uuid.uuid4().hex[:12]}"
        probe = Probe("alerts")
        probe.start_group_at_end(group, [POLICE_TOPIC, CYBERSPACE_TOPIC])
        probe.close()
        matcher, responders = FakeMatcher(), FakeResponders()
        built = build_units_consumer(
            settings, group_id=group, instances=1, matcher=matcher, responders=responders
        )
        tasks = [asyncio.create_task(job()) for job in built.background()]
        try:
            yield Running(built, matcher, responders, tasks)
        finally:
            built.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await built.close()


def receipts_for(external_id: str, since: dict[int, int], wanted: set[str]) -> list[dict[str, str]]:
    """The receipts of one report, read until these statuses are all there. When the local
    stack runs alerts, its own consumer (group alerts.units) reads the test's messages too and
    sends its receipts beside the test consumer's."""

    def mine(found: list[Record]) -> list[dict[str, str]]:
        documents = [json.loads(r.value) for r in found]
        return [d for d in documents if d.get("external_id") == external_id]

    probe = Probe(POLICE)
    try:
        records = probe.read(
            RECEIPTS,
            since,
            until=lambda found: wanted <= {d["status"] for d in mine(found)},
            # The test's relay shares the outbox advisory lock with a running alerts (same
            # database, same table name): under load its receipts can wait a while.
            timeout=90,
        )
    finally:
        probe.close()
    return mine(records)


def ends(topic: str, user: str = "alerts") -> dict[int, int]:
    probe = Probe(user)
    try:
        return probe.ends(topic)
    finally:
        probe.close()


async def test_a_good_report_becomes_an_alert_told_to_the_psychology_teacher_with_receipts(
    running: Running,
) -> None:
    since = ends(RECEIPTS, POLICE)
    external_id = f"P-{uuid.uuid4().hex[:10]}"
    unit = UnitProducer(POLICE)
    unit.send(POLICE_TOPIC, encode(document(external_id, number=running.good_number())))
    assert unit.flush() == 0
    assert not unit.errors
    assert await running.wait(alerts, 1, source_ref=POLICE) == 1
    assert await running.count(notifications, recipient="psych.teacher") == 1
    statuses = {r["status"] for r in receipts_for(external_id, since, {"received", "matched"})}
    assert {"received", "matched"} <= statuses


async def test_malformed_json_goes_to_the_dlq_with_its_reason_and_raises_a_review_task(
    running: Running,
) -> None:
    since = ends(DLQ)
    marker = uuid.uuid4().hex
    unit = UnitProducer(POLICE)
    unit.send(POLICE_TOPIC, f'{{"external_id": "P-{marker}", "category": '.encode())
    assert unit.flush() == 0
    assert await running.wait(review_tasks, 1, kind="malformed") == 1
    probe = Probe("alerts")
    try:
        letters = probe.read(
            DLQ, since, until=lambda found: any(marker.encode() in r.value for r in found)
        )
    finally:
        probe.close()
    (letter,) = [r for r in letters if marker.encode() in r.value]
    assert letter.headers["x-dlq-reason"] == "undecodable:not-json"
    assert letter.headers["x-dlq-original-topic"] == POLICE_TOPIC
    # The raw message is kept encrypted with the task, never in clear.
    async with running.alerts.core.sessions() as session:
        raw = await session.scalar(select(review_tasks.c.raw_enc))
    assert raw is not None
    assert marker.encode() not in raw


async def test_an_unknown_student_becomes_a_review_task_never_a_drop(running: Running) -> None:
    since = ends(RECEIPTS, POLICE)
    external_id = f"P-{uuid.uuid4().hex[:10]}"
    unit = UnitProducer(POLICE)
    unit.send(POLICE_TOPIC, encode(document(external_id, number="G360702200001010000")))
    assert unit.flush() == 0
    assert await running.wait(review_tasks, 1, kind="no_match") == 1
    assert await running.count(alerts) == 0
    statuses = {r["status"] for r in receipts_for(external_id, since, {"received", "in_review"})}
    assert statuses == {"received", "in_review"}


async def test_a_repeat_of_the_same_external_id_changes_nothing(running: Running) -> None:
    external_id = f"P-{uuid.uuid4().hex[:10]}"
    body = encode(document(external_id, number=running.good_number()))
    unit = UnitProducer(POLICE)
    unit.send(POLICE_TOPIC, body)
    unit.send(POLICE_TOPIC, body)
    marker = f"P-{uuid.uuid4().hex[:10]}"  # a later message: once it is in, both were read
    unit.send(POLICE_TOPIC, encode(document(marker, number=running.good_number())))
    assert unit.flush() == 0
    assert await running.wait(unit_reports, 1, external_id=marker) == 1
    await asyncio.sleep(1.0)
    assert await running.count(unit_reports, external_id=external_id) == 1
    assert await running.count(alerts) == 2


def test_a_unit_writing_another_units_topic_is_refused_by_the_broker() -> None:
    unit = UnitProducer(CYBERSPACE, timeout_ms=10_000)
    unit.send(POLICE_TOPIC, encode(document("C-1", number="G360702200001010000")))
    unit.flush(30)
    assert [e.code() for e in unit.errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def restart_kafka() -> None:
    subprocess.run(
        [str(ROOT / "infra/local/stack"), "ctl", "restart", "kafka"],
        check=True,
        capture_output=True,
        timeout=180,
    )


async def test_a_burst_is_accounted_for_exactly_once(running: Running) -> None:
    """alerts + review tasks (which include one per dead letter) = messages sent, each once.
    With ALERTS_TEST_RESTART_BROKER=1 the local broker is restarted in the middle of the burst
    (it disturbs every other user of the broker for ~10 s: `make test` sets it when the stack
    is its own)."""
    restart = os.environ.get("ALERTS_TEST_RESTART_BROKER") == "1"
    total = 300 if restart else 150
    marker = uuid.uuid4().hex[:8]
    unit = UnitProducer(POLICE)
    good, unknown, malformed = 0, 0, 0
    restarter: threading.Thread | None = None
    for n in range(total):
        external_id = f"B-{marker}-{n}"
        if n % 10 == 7:
            # Valid JSON the schema refuses, so the review task can name its external id.
            refused = {**document(external_id, number="G360702200001010000"), "category": "gossip"}
            unit.send(POLICE_TOPIC, encode(refused), external_id)
            malformed += 1
        elif n % 10 == 3:
            body = encode(document(external_id, number="G360702200001010000"))
            unit.send(POLICE_TOPIC, body, external_id)
            unknown += 1
        else:
            body = encode(document(external_id, number=running.good_number()))
            unit.send(POLICE_TOPIC, body, external_id)
            good += 1
        if n % 20 == 19:
            # A repeat of the previous external id (keyed like it, so it comes after it).
            repeated = f"B-{marker}-{n - 1}"
            unit.send(POLICE_TOPIC, encode(document(repeated, number="x" * 8)), repeated)
        if restart and n == total // 2:
            restarter = threading.Thread(target=restart_kafka)
            restarter.start()
        if n % 25 == 0:
            await asyncio.sleep(0.05)
    if restarter is not None:
        await asyncio.to_thread(restarter.join)
    assert await asyncio.to_thread(unit.flush) == 0
    assert not unit.errors
    within = 240.0 if restart else 90.0
    accounted = 0
    prefix = f"B-{marker}-"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        accounted = await running.count_like(alerts, prefix) + await running.count_like(
            review_tasks, prefix
        )
        if accounted >= total:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2.0)  # nothing more may arrive: a second copy would show now
    assert await running.count_like(alerts, prefix) == good
    assert await running.count_like(review_tasks, prefix, kind="no_match") == unknown
    assert await running.count_like(review_tasks, prefix, kind="malformed") == malformed
    reviews = await running.count_like(review_tasks, prefix)
    assert reviews + await running.count_like(alerts, prefix) == total
    assert await running.count_like(unit_reports, prefix) == good + unknown


async def test_no_name_or_number_reaches_logs_events_receipts_or_keys(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A planted name and student number travel through alerts; only encrypted columns and
    the partner's own inbound topic may hold them."""
    caplog.set_level(logging.DEBUG)
    name, number = "测试甲乙丙", running.good_number()
    since = ends(RECEIPTS, POLICE)
    external_id = f"P-{uuid.uuid4().hex[:10]}"
    unit = UnitProducer(POLICE)
    unit.send(POLICE_TOPIC, encode(document(external_id, number=number, name=name)))
    # And one the schema refuses, with the same planted values in it.
    unit.send(POLICE_TOPIC, encode({**document("", number=number, name=name), "x": 1}))
    assert unit.flush() == 0
    assert await running.wait(alerts, 1) == 1
    assert await running.wait(review_tasks, 1) == 1
    receipts = receipts_for(external_id, since, {"received", "matched"})
    async with running.alerts.core.sessions() as session:
        rows = (await session.execute(select(outbox.c.key, outbox.c.payload))).all()
        stored = (await session.execute(select(alerts.c.description_enc))).scalars().all()
    planted = (name.encode(), number.encode())
    for key, payload in rows:
        assert not any(p in payload or p in key.encode() for p in planted)
    assert not any(p in (value or b"") for value in stored for p in planted)
    assert not any(
        name in json.dumps(r, ensure_ascii=False) or number in json.dumps(r) for r in receipts
    )
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert name not in logged
    assert number not in logged
