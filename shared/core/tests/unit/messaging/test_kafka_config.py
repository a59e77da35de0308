"""The producer and consumer settings, asserted key by key (ARCHITECTURE §5)."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer
from pydantic import SecretStr

from xinyu_core.messaging import build_consumer, build_producer, consumer_config, producer_config
from xinyu_core.messaging._connection import KafkaConfigError
from xinyu_core.settings import KafkaSettings

# Port 1: nothing listens there, so building a client below can never reach a real broker.
KAFKA = KafkaSettings(
    bootstrap_servers="127.0.0.1:1",
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    username="identity",
    password=SecretStr("dev-kafka-identity"),
)

CONNECTION = {
    "bootstrap.servers": "127.0.0.1:1",
    "client.id": "identity-relay",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "identity",
    "sasl.password": "dev-kafka-identity",
    "socket.keepalive.enable": True,
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 10_000,
}


def test_producer_config_states_every_setting() -> None:
    assert producer_config(KAFKA, "identity-relay") == {
        **CONNECTION,
        "acks": "all",
        "enable.idempotence": True,
        "max.in.flight.requests.per.connection": 5,
        "retries": 2_147_483_647,
        "retry.backoff.ms": 100,
        "retry.backoff.max.ms": 1_000,
        "delivery.timeout.ms": 30_000,
        "request.timeout.ms": 10_000,
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "message.max.bytes": 1_000_000,
        "queue.buffering.max.messages": 100_000,
        "queue.buffering.max.kbytes": 65_536,
        "partitioner": "murmur2_random",
    }


def test_producer_guarantees_hold_whatever_else_changes() -> None:
    config = producer_config(KAFKA, "identity-relay")
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    # Idempotence keeps order with at most 5 in flight; more would be refused by librdkafka.
    assert 1 <= config["max.in.flight.requests.per.connection"] <= 5
    assert config["request.timeout.ms"] < config["delivery.timeout.ms"]
    # Experimental and fatal on any gap; the outbox repairs gaps by re-sending instead.
    assert "enable.gapless.guarantee" not in config


def test_consumer_config_states_every_setting() -> None:
    assert consumer_config(KAFKA, "archives-consumer", "archives") == {
        **CONNECTION,
        "client.id": "archives-consumer",
        "group.id": "archives",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 45_000,
        "heartbeat.interval.ms": 3_000,
        "max.poll.interval.ms": 300_000,
        "enable.partition.eof": False,
        "allow.auto.create.topics": False,
        "fetch.wait.max.ms": 500,
        "max.partition.fetch.bytes": 1_048_576,
    }


def test_plaintext_has_no_sasl_settings() -> None:
    plain = KafkaSettings(bootstrap_servers="b:9092", security_protocol="plaintext")
    config = producer_config(plain, "x")
    assert config["security.protocol"] == "PLAINTEXT"
    assert not any(key.startswith("sasl.") for key in config)


@pytest.mark.parametrize(
    "settings",
    [
        KafkaSettings(username="", password=SecretStr("p")),
        KafkaSettings(username="u", password=SecretStr("")),
        KafkaSettings(username="u", password=SecretStr("p"), sasl_mechanism="GSSAPI"),
        KafkaSettings(security_protocol="SSL_OR_WHATEVER"),
    ],
)
def test_refuses_settings_that_cannot_authenticate(settings: KafkaSettings) -> None:
    with pytest.raises(KafkaConfigError):
        producer_config(settings, "x")


def test_refuses_missing_client_id_and_group() -> None:
    with pytest.raises(KafkaConfigError):
        producer_config(KAFKA, "")
    with pytest.raises(ValueError, match="group_id"):
        consumer_config(KAFKA, "x", "")


def test_librdkafka_accepts_every_key() -> None:
    # librdkafka refuses unknown or conflicting properties when the client is built, so this
    # catches a typo in either config without a broker.
    producer = build_producer(KAFKA, "identity-relay")
    assert isinstance(producer, Producer)
    assert producer.flush(0) == 0
    consumer = build_consumer(KAFKA, "archives-consumer", "archives")
    assert isinstance(consumer, Consumer)
    consumer.close()


def test_sasl_ssl_verifies_the_broker_against_the_configured_ca() -> None:
    from xinyu_core.messaging._connection import connection_config

    tls = KafkaSettings(
        bootstrap_servers="kafka:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="identity",
        password=SecretStr("R7m2Lq9TzXc4"),
        ssl_ca_location="/etc/kafka-ca/ca.crt",
    )
    config = connection_config(tls, "identity")
    assert config["security.protocol"] == "SASL_SSL"
    assert config["ssl.ca.location"] == "/etc/kafka-ca/ca.crt"
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert config["enable.ssl.certificate.verification"] is True
    assert config["sasl.username"] == "identity"
    # The plaintext listener of the local stack gets no TLS settings at all.
    local = connection_config(KafkaSettings(security_protocol="PLAINTEXT"), "identity")
    assert not any(key.startswith("ssl.") for key in local)


def test_librdkafka_accepts_the_tls_settings() -> None:
    tls = KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_SSL",
        username="identity",
        password=SecretStr("R7m2Lq9TzXc4"),
    )
    # Construction validates every key; nothing is sent (the address refuses at once).
    Producer(producer_config(tls, "identity")).flush(0)
