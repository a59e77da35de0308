"""What alerts' end-to-end tests need beyond the gateway: partner units producing their JSON
reports as themselves (SASL/SCRAM on the broker's EXTERNAL listener, local passwords
``dev-kafka-<principal>`` as infra/local/README.md lists them), readers of the topics a unit or
the alerts service may read (receipts, locate requests, the dead letters), fresh invented
students enrolled through a roster upload, and polling the gateway until alerts has acted."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from pydantic import SecretStr

from xinyu_core.messaging import consumer_config
from xinyu_core.messaging.producer import producer_config
from xinyu_core.settings import KafkaSettings
from xinyu_e2e import IDENTITY_DATABASE, auth, cached_token
from xinyu_e2e.seed import DEMO_SCHOOL

POLICE = "unit-police-360702"
CYBERSPACE = "unit-cyberspace-360700"
POLICE_REPORTS = f"alerts.{POLICE}.reported.v1"
CYBERSPACE_REPORTS = f"alerts.{CYBERSPACE}.reported.v1"
POLICE_RECEIPTS = f"alerts.{POLICE}.receipt.v1"
POLICE_LOCATES = f"alerts.{POLICE}.locate-requested.v1"
POLICE_DLQ = f"{POLICE_REPORTS}.dlq"
INTERNAL = os.environ.get("XINYU_E2E_KAFKA_INTERNAL", "127.0.0.1:9092")
EXTERNAL = os.environ.get("XINYU_E2E_KAFKA_EXTERNAL", "127.0.0.1:9094")
ROSTER_HEADER = "学籍号,姓名,性别,出生日期,学校标识码,入学年份,班级\n"


def kafka_settings(principal: str) -> KafkaSettings:
    """Partner units log in on the EXTERNAL listener, the platform's services on INTERNAL."""
    return KafkaSettings(
        bootstrap_servers=EXTERNAL if principal.startswith("unit-") else INTERNAL,
        username=principal,
        password=SecretStr(f"dev-kafka-{principal}"),
    )


class UnitProducer:
    """A partner unit producing to a topic as itself; delivery errors are collected."""

    def __init__(self, unit: str) -> None:
        self.errors: list[KafkaError] = []
        config = producer_config(kafka_settings(unit), f"{unit}-e2e")
        self._producer = Producer(
            {**config, "delivery.timeout.ms": 30_000, "log_level": 0, "error_cb": _ignore}
        )

    def _delivered(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self.errors.append(error)

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Unkeyed messages are spread over the partitions; messages with one key stay in
        order (the unit's choice, as with any Kafka producer)."""
        self._producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
        self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> int:
        """How many messages are still undelivered after ``timeout``."""
        return int(self._producer.flush(timeout))


def _ignore(_error: KafkaError) -> None:
    """Client-level errors (a refused topic shows in the delivery report anyway)."""


def report(
    external_id: str,
    *,
    number: str = "",
    name: str = "",
    category: str = "online_risk",
    description: str = "joined an online group that shares self-harm methods",
) -> dict[str, Any]:
    """A report as docs/units/alert-report.v1.schema.json describes it."""
    student: dict[str, str] = {"student_number": number} if number else {}
    if name:
        student["name"] = name
    return {
        "schema_version": "alert-report.v1",
        "external_id": external_id,
        "occurred_at": "2026-11-28T09:30:00+08:00",
        "category": category,
        "description": description,
        "student": student,
        "contact": {"name": "章贡分局值班室", "phone": "0797-8888888"},
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.value)
        return document


def _consumer(principal: str) -> Consumer:
    # Groups are prefixed with the principal's name (infra/kafka/topics.yaml); never committed.
    group = f"{principal}.e2e-{uuid.uuid4().hex[:12]}"
    config = consumer_config(kafka_settings(principal), f"{principal}-e2e", group)
    return Consumer({**config, "log_level": 0})


def ends(principal: str, topic: str) -> dict[int, int]:
    """partition → the offset the next record will have."""
    client = _consumer(principal)
    try:
        found = client.list_topics(topic, timeout=10).topics.get(topic)
        if found is None or found.error is not None:
            raise AssertionError(f"{principal} cannot see {topic}")
        return {
            p: int(client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in sorted(found.partitions)
        }
    finally:
        client.close()


def read(
    principal: str,
    topic: str,
    since: dict[int, int],
    until: Callable[[list[Record]], bool] | None = None,
    timeout: float = 60.0,
) -> list[Record]:
    """Records of ``topic`` from ``since`` on, read as ``principal``, until ``until`` holds for
    what was read (or ``timeout``; the caller asserts on what came). Without ``until``: every
    record the topic held when called."""
    if until is None:
        last = {p: end for p, end in ends(principal, topic).items() if end > since.get(p, 0)}

        def read_to_the_end(found: list[Record]) -> bool:
            reached: dict[int, int] = {}
            for record in found:
                reached[record.partition] = max(reached.get(record.partition, 0), record.offset)
            return all(reached.get(p, -1) >= end - 1 for p, end in last.items())

        until = read_to_the_end
    client = _consumer(principal)
    client.assign([TopicPartition(topic, p, offset) for p, offset in since.items()])
    found: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(found):
            message = client.poll(0.5)
            if message is None or message.error() is not None:
                continue
            headers: dict[str, str] = {}
            for name, value in list(message.headers() or []):
                if isinstance(value, bytes):
                    headers[str(name)] = value.decode("utf-8", errors="replace")
            value = message.value()
            found.append(
                Record(
                    topic=topic,
                    partition=int(message.partition() or 0),
                    offset=int(message.offset() or 0),
                    value=value if isinstance(value, bytes) else b"",
                    headers=headers,
                )
            )
        return found
    finally:
        client.close()


# --- people and students -----------------------------------------------------------------


def subject(username: str) -> str:
    """The Keycloak subject of a demo user (the ``sub`` of their token)."""
    payload = cached_token(username).split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return str(claims["sub"])


@dataclass(frozen=True)
class FreshStudent:
    student_id: str
    student_number: str
    full_name: str


def invented_number() -> str:
    """A well-formed national student number no real child has."""
    return "G3607022013" + "".join(secrets.choice("0123456789") for _ in range(7)) + "X"


def enrol_fresh_students(
    gateway: httpx.Client, count: int, *, cohort: int, class_number: int = 1
) -> list[FreshStudent]:
    """``count`` invented students of the demo school's class ``cohort``/``class_number``,
    enrolled by the school admin's roster upload, so a test never meets alerts an earlier run
    raised about them."""
    marker = secrets.token_hex(4)
    rows = [
        (
            invented_number(),
            f"警示{marker}{n}",
            "女" if n % 2 else "男",
            f"2013-0{n % 9 + 1}-1{n % 9}",
        )
        for n in range(count)
    ]
    text = ROSTER_HEADER + "".join(
        f"{number},{name},{gender},{born},{DEMO_SCHOOL},{cohort},{class_number}\n"
        for number, name, gender, born in rows
    )
    accepted = gateway.post(
        "/v1/rosters",
        files={"file": ("roster.csv", text.encode("utf-8"), "text/csv")},
        data={"scope_code": DEMO_SCHOOL},
        headers=auth("school.admin"),
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    deadline = time.monotonic() + 60
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = gateway.get(f"/v1/rosters/{job_id}", headers=auth("school.admin")).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.3)
    assert (job.get("status"), job.get("rows_created")) == ("succeeded", count), job
    # The platform has no endpoint listing a school's students: identity's own table says
    # which ids the import gave them (as e2e/tests/test_roster_upload.py does).
    with psycopg.connect(IDENTITY_DATABASE) as connection:
        ids = {
            str(name): str(student_id)
            for student_id, name in connection.execute(
                "SELECT student_id, full_name FROM students WHERE full_name LIKE %s",
                (f"警示{marker}%",),
            )
        }
    return [FreshStudent(ids[name], number, name) for number, name, _, _ in rows]


# --- alerts through the gateway ----------------------------------------------------------


def alerts_of(
    gateway: httpx.Client, student_id: str, user: str = "psych.teacher", org_unit: str = DEMO_SCHOOL
) -> list[dict[str, Any]]:
    reply = gateway.get(
        "/v1/alerts",
        params={"org_unit": org_unit, "student_id": student_id, "page_size": 200},
        headers=auth(user),
    )
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["alerts"]
    return found


def wait_for_alerts(
    gateway: httpx.Client,
    student_id: str,
    count: int = 1,
    *,
    user: str = "psych.teacher",
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """The student's alerts as ``user`` lists them, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    found = alerts_of(gateway, student_id, user)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.3)
        found = alerts_of(gateway, student_id, user)
    assert len(found) >= count, f"{len(found)} of {count} alerts about the student after {timeout}s"
    return found


def review_tasks(gateway: httpx.Client, user: str = "zhanggong.admin") -> list[dict[str, Any]]:
    """The newest review tasks ``user`` may see, whatever their status."""
    reply = gateway.get(
        "/v1/review-tasks",
        params=[
            ("status", "open"),
            ("status", "attached"),
            ("status", "dismissed"),
            ("page_size", "200"),
        ],
        headers=auth(user),
    )
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["tasks"]
    return found


def wait_for_task(
    gateway: httpx.Client, matches: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [task for task in review_tasks(gateway) if matches(task)]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.3)
