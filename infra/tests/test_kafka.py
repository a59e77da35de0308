"""The broker only talks SASL/SCRAM, and the ACLs from infra/kafka/topics.yaml hold."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kafka_up")]

INTERNAL = "127.0.0.1:9092"
EXTERNAL = "127.0.0.1:9094"
POLICE = "unit-police-360702"
POLICE_INBOUND = "alerts.unit-police-360702.reported.v1"
CYBERSPACE_INBOUND = "alerts.unit-cyberspace-360700.reported.v1"
ENROLLED = "identity.student.enrolled.v1"
SCRATCH = "platform.test.scratch.v1"


def sasl(user: str, bootstrap: str, password: str | None = None) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password if password is not None else f"dev-kafka-{user}",
    }


def produce_one(config: dict[str, Any], topic: str, timeout_ms: int = 5000) -> KafkaError | None:
    """Produce one record; the delivery error, or None when the broker acknowledged it."""
    results: list[KafkaError | None] = []
    producer = Producer(
        {
            **config,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": timeout_ms,
            "log_level": 0,
            "error_cb": lambda _err: None,
        }
    )
    producer.produce(
        topic,
        key=b"test-key",
        value=b'{"probe": true}',
        on_delivery=lambda err, _msg: results.append(err),
    )
    producer.flush(timeout_ms / 1000 + 10)
    assert len(results) == 1, "no delivery report"
    return results[0]


def error_code(err: KafkaError | None) -> int | None:
    return None if err is None else err.code()


@pytest.mark.parametrize("bootstrap", [INTERNAL, EXTERNAL])
def test_plaintext_client_cannot_produce(bootstrap: str) -> None:
    err = produce_one(
        {"bootstrap.servers": bootstrap, "security.protocol": "PLAINTEXT"}, SCRATCH, 3000
    )
    assert err is not None


@pytest.mark.parametrize("bootstrap", [INTERNAL, EXTERNAL])
def test_wrong_password_cannot_produce(bootstrap: str) -> None:
    err = produce_one(sasl("tests", bootstrap, password="dev-kafka-wrong"), SCRATCH, 3000)
    assert err is not None


def test_police_unit_can_produce_to_its_own_inbound_topic() -> None:
    assert produce_one(sasl(POLICE, EXTERNAL), POLICE_INBOUND) is None


@pytest.mark.parametrize("topic", [CYBERSPACE_INBOUND, ENROLLED])
def test_police_unit_cannot_produce_elsewhere(topic: str) -> None:
    err = produce_one(sasl(POLICE, EXTERNAL), topic)
    assert error_code(err) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_service_produces_only_what_it_declares() -> None:
    assert produce_one(sasl("identity", INTERNAL), ENROLLED) is None
    err = produce_one(sasl("archives", INTERNAL), ENROLLED)
    assert error_code(err) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_consumer_service_may_park_in_the_dlq_but_producer_may_not() -> None:
    assert produce_one(sasl("archives", INTERNAL), f"{ENROLLED}.dlq") is None
    err = produce_one(sasl("identity", INTERNAL), f"{ENROLLED}.dlq")
    assert error_code(err) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def first_error(user: str, bootstrap: str, topic: str, group: str) -> KafkaError | None:
    """Subscribe and poll briefly; the first error the consumer reports, if any."""
    consumer = Consumer(
        {
            **sasl(user, bootstrap),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "log_level": 0,
            "error_cb": lambda _err: None,
        }
    )
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is not None:
                return msg.error()
            if consumer.assignment():
                return None
        return None
    finally:
        consumer.close()


def test_unit_cannot_read_another_units_receipts() -> None:
    err = first_error(
        POLICE, EXTERNAL, "alerts.unit-cyberspace-360700.receipt.v1", f"{POLICE}-receipts"
    )
    assert error_code(err) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_tests_user_round_trips_on_the_scratch_topic() -> None:
    marker = uuid.uuid4().hex.encode()
    producer = Producer({**sasl("tests", INTERNAL), "enable.idempotence": True, "acks": "all"})
    producer.produce(SCRATCH, key=marker, value=marker)
    assert producer.flush(15) == 0
    consumer = Consumer(
        {
            **sasl("tests", INTERNAL),
            "group.id": f"tests-infra-{marker.decode()}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([SCRATCH])
        seen = False
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            if msg.value() == marker:
                seen = True
                break
        assert seen, "the record produced by `tests` did not come back"
    finally:
        consumer.close()
