"""Real PostgreSQL and Kafka for alerts' integration tests and benchmark: a throwaway schema in
alerts' database, consumer groups that start at the current end of their topics, partner units
producing JSON as themselves on the EXTERNAL listener, and readers of receipts and DLQs."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from alerts.adapters.db.tables import metadata
from alerts.config import AlertsSettings
from xinyu_core.messaging import consumer_config
from xinyu_core.settings import KafkaSettings, KeycloakSettings

DATABASE_URL = "postgresql+psycopg://alerts:dev-db-alerts@127.0.0.1:5433/alerts"
KEY = "deadbeefdeadbeef000102030405060708090a0b0c0d0e0f1011121314151617"
POLICE = "unit-police-360702"
CYBERSPACE = "unit-cyberspace-360700"
POLICE_TOPIC = f"alerts.{POLICE}.reported.v1"
CYBERSPACE_TOPIC = f"alerts.{CYBERSPACE}.reported.v1"
INTERNAL = "127.0.0.1:9092"
EXTERNAL = "127.0.0.1:9094"

ALERTS_KAFKA = KafkaSettings(
    bootstrap_servers=INTERNAL, username="alerts", password=SecretStr("dev-kafka-alerts")
)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def settings_for(schema: str, **changes: Any) -> AlertsSettings:
    options = quote(f"-csearch_path={schema}")
    return AlertsSettings(
        database_url=SecretStr(f"{DATABASE_URL}?options={options}"),
        kafka=ALERTS_KAFKA,
        keycloak=KeycloakSettings(client_id="alerts", client_secret=SecretStr("dev-kc-alerts")),
        field_encryption_key=SecretStr(KEY),
        **changes,
    )


@asynccontextmanager
async def throwaway_schema(prefix: str) -> AsyncIterator[str]:
    name = f"tests_{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(DATABASE_URL, connect_args={"options": f"-csearch_path={name}"})
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{name}"'))
        await connection.run_sync(metadata.create_all)
    try:
        yield name
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()


def sasl(user: str, bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": f"dev-kafka-{user}",
    }


class UnitProducer:
    """A partner unit producing JSON to a topic as itself (EXTERNAL listener)."""

    def __init__(self, unit: str, *, timeout_ms: int = 120_000) -> None:
        self.errors: list[KafkaError] = []
        self.delivered = 0
        self.sent_at: dict[str, float] = {}
        self._producer = Producer(
            {
                **sasl(unit, EXTERNAL),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "message.timeout.ms": timeout_ms,
                "log_level": 0,
                "error_cb": lambda _error: None,
            }
        )

    def _report(self, error: KafkaError | None, _message: Any) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.errors.append(error)

    def send(self, topic: str, value: bytes, key: str | None = None) -> None:
        if key is not None:
            self.sent_at[key] = time.time()
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key.encode() if key else None, on_delivery=self._report
                )
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout: float = 180.0) -> int:
        return int(self._producer.flush(timeout))


def document(
    external_id: str,
    *,
    number: str = "",
    resident_id: str = "",
    category: str = "online_risk",
    name: str = "",
) -> dict[str, Any]:
    student: dict[str, str] = {}
    if number:
        student["student_number"] = number
    if resident_id:
        student["resident_id"] = resident_id
    if name:
        student["name"] = name
    return {
        "schema_version": "alert-report.v1",
        "external_id": external_id,
        "occurred_at": "2026-11-28T09:30:00+08:00",
        "category": category,
        "description": "discussed self-harm methods in an online group",
        "student": student,
        "contact": {"name": "Duty desk", "phone": "0797-8888888"},
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


class Probe:
    """Test-side looks at the broker as a given principal."""

    def __init__(self, user: str = "alerts") -> None:
        self._user = user
        self._client = Consumer(self._config(self.new_group()))

    def _config(self, group: str) -> dict[str, Any]:
        settings = KafkaSettings(
            bootstrap_servers=EXTERNAL if self._user.startswith("unit-") else INTERNAL,
            username=self._user,
            password=SecretStr(f"dev-kafka-{self._user}"),
        )
        return {**consumer_config(settings, f"{self._user}-tests", group), "log_level": 0}

    def new_group(self) -> str:
        return f"{self._user}.tests-{uuid.uuid4().hex[:12]}"

    def close(self) -> None:
        self._client.close()

    def ends(self, topic: str) -> dict[int, int]:
        metadata = self._client.list_topics(topic, timeout=10)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return {}
        return {
            p: self._client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in sorted(found.partitions)
        }

    def start_group_at_end(self, group: str, topics: list[str]) -> None:
        client = Consumer(self._config(group))
        try:
            offsets = [
                TopicPartition(topic, p, end)
                for topic in topics
                for p, end in self.ends(topic).items()
            ]
            client.commit(offsets=offsets, asynchronous=False)
        finally:
            client.close()

    def read(
        self,
        topic: str,
        since: dict[int, int],
        until: Callable[[list[Record]], bool],
        timeout: float = 30.0,
    ) -> list[Record]:
        reader = Consumer(self._config(self.new_group()))
        reader.assign([TopicPartition(topic, p, offset) for p, offset in since.items()])
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not until(found):
                message = reader.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                found.append(
                    Record(
                        topic=message.topic(),
                        partition=message.partition(),
                        offset=message.offset(),
                        key=message.key(),
                        value=message.value() or b"",
                        headers={
                            name: value.decode() if isinstance(value, bytes) else str(value)
                            for name, value in (message.headers() or [])
                            if value is not None
                        },
                    )
                )
            return found
        finally:
            reader.close()
