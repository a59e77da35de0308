from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from xinyu_core.logging import configure_logging
from xinyu_core.settings import ServiceSettings

FAKE_NAME = "王小明"
FAKE_RESIDENT_ID = "36070220150101123X"
FAKE_STUDENT_NUMBER = "G360702201501011234"
FAKE_PHONE = "13912345678"


def test_placeholder_secrets_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYU_ENVIRONMENT", "production")
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://identity:dev-db-identity@db:5432/identity"
    )
    with pytest.raises(ValidationError, match="database_url password"):
        ServiceSettings()


def test_placeholder_secrets_are_fine_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYU_ENVIRONMENT", "development")
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://identity:dev-db-identity@db:5432/identity"
    )
    assert ServiceSettings().environment == "development"


def test_real_secrets_pass_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYU_ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://identity:Zq8vN3kL0pWx@db/identity")
    monkeypatch.setenv("KAFKA__USERNAME", "identity")
    monkeypatch.setenv("KAFKA__PASSWORD", "dev-kafka-identity")
    with pytest.raises(ValidationError, match=r"kafka\.password"):
        ServiceSettings()
    monkeypatch.setenv("KAFKA__PASSWORD", "R7m2Lq9TzXc4")
    assert ServiceSettings().kafka.username == "identity"


def test_logs_are_json_with_trace_ids_and_no_personal_data() -> None:
    stream = io.StringIO()
    configure_logging("identity", "INFO", stream=stream)
    tracer = TracerProvider().get_tracer("test")
    log = logging.getLogger("identity.test")
    with tracer.start_as_current_span("enrol") as span:
        log.info(
            "enrolled %s with id %s, phone %s, number %s",
            FAKE_NAME[:0] + "student",
            FAKE_RESIDENT_ID,
            FAKE_PHONE,
            FAKE_STUDENT_NUMBER,
        )
        log.info(f"oops an f-string with {FAKE_RESIDENT_ID}")  # noqa: G004 - proves the redactor
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["service"] == "identity"
    assert lines[0]["level"] == "INFO"
    assert lines[0]["trace_id"] == format(span.get_span_context().trace_id, "032x")
    text = stream.getvalue()
    for secret in (FAKE_RESIDENT_ID, FAKE_PHONE, FAKE_STUDENT_NUMBER):
        assert secret not in text
    assert "[redacted]" in lines[1]["message"]
