"""The screening server as `screening serve` builds it, on a throwaway schema, with real
Keycloak tokens and the real broker: a county opens a campaign, the school's psychology
teacher starts a class sitting, the gateway's own client joins and submits for a student; the
relay publishes the flag to Kafka keyed by the student id. identity is a fake."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from confluent_kafka import Consumer, TopicPartition
from fakes import CLASS, FAKE_NAME, SCHOOL, FakeIdentity, student
from pydantic import SecretStr
from storage_support import Database
from test_sittings import CALM_PHQ_A

from screening.bootstrap import Screening, build
from screening.config import ScreeningSettings
from xinyu.events.v1 import screening_pb2 as events
from xinyu.screening.v1 import screening_pb2 as pb
from xinyu.screening.v1 import screening_pb2_grpc
from xinyu_core.grpc.client import bearer_metadata
from xinyu_core.messaging import consumer_config
from xinyu_core.settings import KafkaSettings, KeycloakSettings
from xinyu_e2e import client_token, password_token

pytestmark = pytest.mark.integration

FLAGGED = "screening.result.flagged.v1"


def kafka(user: str) -> KafkaSettings:
    return KafkaSettings(username=user, password=SecretStr(f"dev-kafka-{user}"))


@pytest.fixture
async def screening(database: Database) -> AsyncIterator[tuple[Screening, str]]:
    settings = ScreeningSettings(
        database_url=SecretStr(database.url),
        grpc_listen="127.0.0.1:0",
        kafka=kafka("screening"),
        keycloak=KeycloakSettings(
            client_id="screening", client_secret=SecretStr("dev-kc-screening")
        ),
        field_encryption_key=SecretStr("deadbeefdeadbeef" + "ab" * 24),
        sitting_token_key=SecretStr("dev-sitting-token-key-for-integration-tests"),
    )
    identity = FakeIdentity()
    identity.students[CLASS] = [student(n) for n in range(1, 4)]
    service = build(settings, identity=identity)
    await service.shelf.refresh()
    await service.server.start()
    relay = asyncio.create_task(service.relay.run())
    try:
        yield service, f"127.0.0.1:{service.server.port}"
    finally:
        await service.server.stop(0)
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await service.close()


def flag_offsets() -> tuple[Consumer, list[TopicPartition]]:
    consumer = Consumer(
        consumer_config(kafka("alerts"), "alerts-screening-test", f"alerts.test-{uuid.uuid4()}")
    )
    metadata = consumer.list_topics(FLAGGED, timeout=10)
    partitions = []
    for number in metadata.topics[FLAGGED].partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(FLAGGED, number), timeout=10)
        partitions.append(TopicPartition(FLAGGED, number, high))
    return consumer, partitions


async def test_a_class_sitting_end_to_end_through_the_server(
    screening: tuple[Screening, str], database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, target = screening
    county = bearer_metadata(password_token("zhanggong.admin"))
    psych = bearer_metadata(password_token("psych.teacher"))
    gateway = bearer_metadata(client_token("gateway", "dev-kc-gateway"))
    consumer, offsets = flag_offsets()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = screening_pb2_grpc.ScreeningServiceStub(channel)
        listed = await stub.ListInstruments(pb.ListInstrumentsRequest(), metadata=psych)
        assert {"phq-a", "gad-7"} <= {i.instrument_id for i in listed.instruments}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListInstruments(pb.ListInstrumentsRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

        request = pb.OpenCampaignRequest(
            name="integration",
            kind=pb.CAMPAIGN_KIND_ANNUAL,
            scope_code="360702",
            batteries=[
                pb.Battery(
                    grade_band="junior_secondary",
                    instruments=[pb.InstrumentRef(instrument_id="phq-a", version="1.0.0")],
                )
            ],
            consent_required_under_age=0,
        )
        request.opens_at.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
        request.closes_at.FromDatetime(datetime.now(UTC) + timedelta(days=1))
        opened = await stub.OpenCampaign(request, metadata=county)
        assert opened.campaign.consent_required_under_age == 0

        started = await stub.StartSitting(
            pb.StartSittingRequest(campaign_id=opened.campaign.campaign_id, class_code=CLASS),
            metadata=psych,
        )
        slip = started.participants[0]
        joined = await stub.JoinSitting(
            pb.JoinSittingRequest(
                join_code=started.sitting.join_code, personal_code=slip.personal_code
            ),
            metadata=gateway,
        )
        phq_a = pb.InstrumentRef(instrument_id="phq-a", version="1.0.0")
        missing = {k: v for k, v in CALM_PHQ_A.items() if k != "q4"}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SubmitAnswers(
                pb.SubmitAnswersRequest(
                    sitting_token=joined.sitting_token,
                    instrument=phq_a,
                    answers=missing,
                    submission_id=str(uuid.uuid4()),
                ),
                metadata=gateway,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert ("xinyu-field", "answers.q4") in tuple(caught.value.trailing_metadata() or ())

        submission = pb.SubmitAnswersRequest(
            sitting_token=joined.sitting_token,
            instrument=phq_a,
            answers=CALM_PHQ_A | {"q9": 1},
            submission_id=str(uuid.uuid4()),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SubmitAnswers(submission, metadata=psych)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        first = await stub.SubmitAnswers(submission, metadata=gateway)
        again = await stub.SubmitAnswers(submission, metadata=gateway)
        assert (first.duplicate, again.duplicate) == (False, True)

        read = await stub.GetResult(
            pb.GetResultRequest(submission_id=submission.submission_id), metadata=psych
        )
        assert dict(read.result.answers) == dict(submission.answers)
        assert read.result.summary.suggested_level == pb.RISK_LEVEL_RED

        # The flag puts the student on the re-screening list and opens a guardian task; both
        # lists come in pages, their size and token passed through.
        rescreening = await stub.ListRescreening(
            pb.ListRescreeningRequest(school_code=SCHOOL, page_size=1), metadata=psych
        )
        assert [(c.student_id, c.level) for c in rescreening.candidates] == [
            (slip.student_id, pb.RISK_LEVEL_RED)
        ]
        assert rescreening.next_page_token == ""
        tasks = await stub.ListGuardianTasks(
            pb.ListGuardianTasksRequest(school_code=SCHOOL, page_size=1), metadata=psych
        )
        assert [t.submission_id for t in tasks.tasks] == [submission.submission_id]
        assert tasks.next_page_token == ""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListRescreening(
                pb.ListRescreeningRequest(school_code=SCHOOL, page_token="nonsense"),
                metadata=psych,
            )
        assert ("xinyu-field", "page_token") in tuple(caught.value.trailing_metadata() or ())

    # The relay publishes the flag; the key is the student's opaque id.
    consumer.assign(offsets)
    deadline = time.monotonic() + 20
    found = None
    try:
        while found is None and time.monotonic() < deadline:
            record = await asyncio.to_thread(consumer.poll, 1.0)
            if record is None or record.error():
                continue
            event = events.ResultFlagged.FromString(record.value() or b"")
            if event.submission_id == submission.submission_id:
                found = (record.key(), event)
    finally:
        consumer.close()
    assert found is not None, "the flag did not reach Kafka"
    key, event = found
    assert key == slip.student_id.encode()
    assert list(event.critical_rule_ids) == ["self_harm_thoughts"]
    # Published rows are marked, and the guard's refusal of the psychology teacher is recorded.
    query = "SELECT topic, published_at FROM outbox ORDER BY id"
    for _ in range(50):  # the relay marks rows after the broker's acknowledgement
        outbox = database.rows(query)
        if all(row["published_at"] is not None for row in outbox if row["topic"] == FLAGGED):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the relay did not mark the flag published")
    assert "platform.audit.recorded.v1" in {row["topic"] for row in outbox}
    # Nothing personal in what the process logged: no name, no code, no answer.
    assert any("denied" in r.getMessage() for r in caplog.records)  # the guard's refusal
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in (FAKE_NAME, started.sitting.join_code, slip.personal_code, "past_month"):
        assert secret not in logged
