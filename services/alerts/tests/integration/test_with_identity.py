"""Alerts with the running identity and Keycloak (`make up`, demo data): a partner's report
with a good student number reaches the school's psychology teacher; a flagged screening result
raises a critical alert with a crisis case that a responder acknowledges, or that escalates to
the family level when nobody does (a manual clock moves time); and the scope rules hold for
real tokens. The alerts processes run in this process against a throwaway schema."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from alerts_stack import (
    ALERTS_KAFKA,
    POLICE,
    POLICE_TOPIC,
    Probe,
    UnitProducer,
    document,
    encode,
    reachable,
    settings_for,
    throwaway_schema,
)
from pydantic import SecretStr
from sqlalchemy import select

from alerts.adapters.db.tables import alerts, cases, notifications
from alerts.bootstrap import (
    Alerts,
    build_screening_consumer,
    build_server_side,
    build_units_consumer,
)
from alerts.domain.clock import ManualClock
from xinyu.alerts.v1 import alerts_pb2 as pb
from xinyu.alerts.v1 import alerts_pb2_grpc
from xinyu.events.v1 import screening_pb2 as screening_events
from xinyu.screening.v1 import screening_pb2 as screening_api
from xinyu_core.grpc.client import bearer_metadata, open_channel
from xinyu_core.messaging import AsyncProducer, build_producer, stamp
from xinyu_core.settings import KafkaSettings
from xinyu_e2e import password_token
from xinyu_e2e.seed import CLASS_ONE, DEMO_COUNTY, DEMO_SCHOOL

# It needs identity serving with the demo data, which `make test` starts only for the e2e phase.
pytestmark = pytest.mark.e2e

# A demo student of class one (e2e/src/xinyu_e2e/seed.py): head.teacher, psych.teacher,
# school.admin and guardian.demo answer for them.
DEMO_NUMBER = "G360702201401010011"
FLAGGED = "screening.result.flagged.v1"


@pytest.fixture(autouse=True)
def _platform() -> None:
    if not (reachable("127.0.0.1", 50061) and reachable("127.0.0.1", 8180)):
        pytest.fail("identity and Keycloak not reachable: run `make up` first")


async def wait_for(check, within: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    return await check()


def run(built: Alerts) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(job()) for job in built.background()]


async def stop(built: Alerts, tasks: list[asyncio.Task[None]]) -> None:
    built.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await built.close()


async def test_a_good_student_number_reaches_the_schools_psychology_teacher() -> None:
    async with throwaway_schema("alerts_identity") as schema:
        settings = settings_for(schema)
        group = f"alerts.units.tests-{uuid.uuid4().hex[:12]}"
        probe = Probe("alerts")
        probe.start_group_at_end(group, list(settings.unit_topics))
        probe.close()
        built = build_units_consumer(settings, group_id=group, instances=2)
        tasks = run(built)
        try:
            unit = UnitProducer(POLICE)
            external_id = f"P-{uuid.uuid4().hex[:10]}"
            unit.send(POLICE_TOPIC, encode(document(external_id, number=DEMO_NUMBER)))
            assert unit.flush() == 0

            async def told() -> list[str]:
                async with built.core.sessions() as session:
                    return list(await session.scalars(select(notifications.c.recipient)))

            recipients = await wait_for(told)
            assert "psych.teacher" in recipients
            async with built.core.sessions() as session:
                row = (await session.execute(select(alerts))).one()
            assert row.school_code == DEMO_SCHOOL
            assert row.class_code == CLASS_ONE
        finally:
            await stop(built, tasks)


def flagged(student_id: str) -> screening_events.ResultFlagged:
    event = screening_events.ResultFlagged(
        submission_id=str(uuid.uuid4()),
        student_id=student_id,
        campaign_id=str(uuid.uuid4()),
        school_code=DEMO_SCHOOL,
        county_code=DEMO_COUNTY,
        class_code=CLASS_ONE,
        critical_rule_ids=["phq9-item9"],
        level=screening_api.RISK_LEVEL_RED,
    )
    event.flagged_at.GetCurrentTime()
    stamp(event, "screening", student_id)
    return event


@pytest.fixture
async def platform() -> AsyncIterator[
    tuple[Alerts, ManualClock, str, alerts_pb2_grpc.AlertServiceStub]
]:
    """The screening consumer and the gRPC server (with its scheduler) sharing one manual clock
    and one throwaway schema, and the demo student's id (from identity, by number)."""
    async with throwaway_schema("alerts_screening") as schema:
        settings = settings_for(schema, grpc_listen="127.0.0.1:0")
        clock = ManualClock()
        group = f"alerts.screening.tests-{uuid.uuid4().hex[:12]}"
        probe = Probe("alerts")
        probe.start_group_at_end(group, [FLAGGED, "screening.level.confirmed.v1"])
        probe.close()
        consumer = build_screening_consumer(settings, group_id=group, clock=clock)
        server_side = build_server_side(settings, clock=clock)
        assert server_side.server is not None
        await server_side.server.start()
        tasks = run(consumer)
        match = await consumer.core.intake._matcher.match(DEMO_NUMBER, "", "")
        assert match.student is not None
        channel = open_channel(f"127.0.0.1:{server_side.server.port}")
        try:
            yield (
                server_side,
                clock,
                str(match.student.student_id),
                alerts_pb2_grpc.AlertServiceStub(channel),
            )
        finally:
            await channel.close()
            await stop(consumer, tasks)
            await server_side.server.stop(1)
            await server_side.close()


async def publish_flag(student_id: str) -> None:
    """Stands in for screening's own producer (local credentials of the screening principal)."""
    settings = KafkaSettings(
        bootstrap_servers=ALERTS_KAFKA.bootstrap_servers,
        username="screening",
        password=SecretStr("dev-kafka-screening"),
    )
    producer = AsyncProducer(build_producer(settings, client_id="alerts-tests-screening"))
    try:
        event = flagged(student_id)
        report = await producer.send_all([_record(event)])
        assert report[0].delivered
    finally:
        await producer.close()


def _record(event: screening_events.ResultFlagged):  # type: ignore[no-untyped-def]
    from xinyu_core.messaging import OutgoingRecord

    return OutgoingRecord(
        topic=FLAGGED, key=event.meta.subject.encode(), value=event.SerializeToString(), headers=[]
    )


async def latest_alert(
    server_side: Alerts, student_id: str, but: str = "", within: float = 60.0
) -> str:
    """The demo student's alert (other than ``but``): screening's topic is shared with whatever
    else runs on the stack, so other students' flags arrive too."""

    async def newest() -> str:
        async with server_side.core.sessions() as session:
            query = select(alerts.c.alert_id).where(alerts.c.student_id == uuid.UUID(student_id))
            if but:
                query = query.where(alerts.c.alert_id != uuid.UUID(but))
            found = await session.scalar(query.limit(1))
        return str(found) if found else ""

    seen = await wait_for(newest, within)
    assert seen, "no alert was raised"
    return str(seen)


async def test_a_flagged_result_is_acknowledged_or_escalates(platform) -> None:  # type: ignore[no-untyped-def]
    server_side, clock, student_id, stub = platform
    psych = bearer_metadata(await asyncio.to_thread(password_token, "psych.teacher"))

    # 1. Acknowledged in time: the escalation stops.
    await publish_flag(student_id)
    first = await latest_alert(server_side, student_id)
    answer = await stub.GetAlert(pb.GetAlertRequest(alert_id=first), metadata=psych)
    assert answer.alert.severity == pb.SEVERITY_CRITICAL
    assert answer.alert.level == pb.LEVEL_SCHOOL
    assert {n.recipient for n in answer.notifications} == {"head.teacher", "psych.teacher"}
    assert answer.alert.case_id.startswith("case-")
    async with server_side.core.sessions() as session:
        owner = await session.scalar(
            select(cases.c.owner).where(cases.c.case_id == answer.alert.case_id)
        )
    assert owner == "psych.teacher"
    acked = await stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=first), metadata=psych)
    assert acked.alert.status == pb.ALERT_STATUS_ACKNOWLEDGED

    # 2. Nobody acknowledges the next one: past its deadline it escalates to the family level.
    await asyncio.sleep(0.5)
    await publish_flag(student_id)

    second = await latest_alert(server_side, student_id, but=first)
    assert server_side.scheduler is not None
    clock.advance(timedelta(minutes=9))
    assert await server_side.scheduler.run_once() == 0
    clock.advance(timedelta(minutes=1))
    while await server_side.scheduler.run_once():  # other students' alerts may be due too
        pass
    answer = await stub.GetAlert(pb.GetAlertRequest(alert_id=second), metadata=psych)
    assert answer.alert.level == pb.LEVEL_FAMILY
    assert answer.alert.status == pb.ALERT_STATUS_OPEN
    assert [r.reason for r in answer.routing] == ["raised", "escalated"]
    assert {"guardian.demo", "school.admin"} <= {n.recipient for n in answer.notifications}
    first_answer = await stub.GetAlert(pb.GetAlertRequest(alert_id=first), metadata=psych)
    assert first_answer.alert.level == pb.LEVEL_SCHOOL  # acknowledged: never escalated

    # 3. Another county's official may not read it (and the refusal is audited by the guard).
    other = bearer_metadata(await asyncio.to_thread(password_token, "nankang.admin"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetAlert(pb.GetAlertRequest(alert_id=second), metadata=other)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # 4. The case starts with guardian contact and closes with a summary.
    case_id = answer.alert.case_id
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await stub.RecordCaseStep(
            pb.RecordCaseStepRequest(
                case_id=case_id, kind=pb.CASE_STEP_KIND_ASSESSMENT, note="joint assessment"
            ),
            metadata=psych,
        )
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await stub.RecordCaseStep(
        pb.RecordCaseStepRequest(
            case_id=case_id, kind=pb.CASE_STEP_KIND_GUARDIAN_CONTACT, note="called the mother"
        ),
        metadata=psych,
    )
    closed = await stub.CloseCase(
        pb.CloseCaseRequest(case_id=case_id, summary="referred; stable"), metadata=psych
    )
    assert [s.kind for s in closed.case.steps] == [
        pb.CASE_STEP_KIND_GUARDIAN_CONTACT,
        pb.CASE_STEP_KIND_CLOSURE,
    ]
    assert json.dumps(closed.case.summary)
