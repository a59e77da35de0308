"""Partner units' JSON reports (docs/units/alert-report.v1.schema.json): validated against the
published schema and normalised to ``xinyu.events.v1.UnitReportReceived`` before the chassis's
consumer handles them, so a repeat of an external id is dropped by the inbox (its event id is a
name-based UUID of unit and external id) and anything invalid takes the DLQ path."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from alerts.adapters.messaging.events import CATEGORY_PB, SEVERITY_PB, unit_of_topic
from alerts.domain.model import Category, Severity
from xinyu.alerts.v1 import alerts_pb2 as api
from xinyu.events.v1 import alerts_pb2 as ev
from xinyu_core.messaging import PoisonMessage, stamp

SERVICE = "alerts"
MAX_BYTES = 64 * 1024
# A fixed namespace for the ids of partner reports: uuid5(namespace, unit + "\n" + external id).
REPORT_NAMESPACE = uuid.UUID("6a3c1f0e-5b7d-4c39-9a59-3f1f0d2a7c11")


def report_id(unit: str, external_id: str) -> uuid.UUID:
    return uuid.uuid5(REPORT_NAMESPACE, f"{unit}\n{external_id}")


def load_schema() -> dict[str, Any]:
    text = resources.files("alerts").joinpath("alert-report.v1.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class UnitReportDecoder:
    """One decoder per inbound topic (the unit is the topic's, never the payload's)."""

    def __init__(self, topic: str, validator: Draft202012Validator) -> None:
        self._unit = unit_of_topic(topic)
        self._validator = validator

    def __call__(self, raw: bytes) -> ev.UnitReportReceived:
        if len(raw) > MAX_BYTES:
            raise PoisonMessage("too-large")
        try:
            document = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise PoisonMessage("not-utf-8") from error
        except ValueError as error:
            raise PoisonMessage("not-json") from error
        errors = sorted(self._validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            # The reason names where, never what: the value may be a name or an ID number.
            first = errors[0]
            where = ".".join(str(part) for part in first.absolute_path) or "document"
            raise PoisonMessage(f"schema:{where}:{first.validator}")
        try:
            occurred = datetime.fromisoformat(document["occurred_at"].replace("Z", "+00:00"))
        except ValueError as error:
            raise PoisonMessage("schema:occurred_at:format") from error
        student = document["student"]
        contact = document["contact"]
        rid = report_id(self._unit, document["external_id"])
        message = ev.UnitReportReceived(
            unit=self._unit,
            external_id=document["external_id"],
            category=CATEGORY_PB[Category(document["category"])],
            severity_hint=(
                SEVERITY_PB[Severity(document["severity_hint"])]
                if "severity_hint" in document
                else api.SEVERITY_UNSPECIFIED
            ),
            description=document["description"],
            student_number=student.get("student_number", "").strip().upper(),
            resident_id=student.get("resident_id", "").strip().upper(),
            full_name=student.get("name", "").strip(),
            contact_name=contact["name"],
            contact_phone=contact["phone"],
            raw=raw,
        )
        message.occurred_at.FromDatetime(occurred.astimezone(UTC))
        stamp(message, SERVICE, str(rid), event_id=rid)
        return message


def decoders(topics: list[str]) -> dict[str, Callable[[bytes], ev.UnitReportReceived]]:
    validator = Draft202012Validator(load_schema(), format_checker=FormatChecker())
    return {topic: UnitReportDecoder(topic, validator) for topic in topics}
