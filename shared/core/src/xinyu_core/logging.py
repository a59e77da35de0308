"""JSON logging with trace and span ids, and a last line of defence against personal data.

Services log ids (event ids, opaque student UUIDs, topics), never names, student numbers,
resident IDs or phone numbers. :class:`PersonalDataRedactor` masks anything that still looks
like a resident ID, a phone number or a national student number, in case a message slips.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

# 18-character resident ID (17 digits + digit or X), mainland mobile numbers, and the
# student-registry number (a letter G/L + resident-ID-like digits, or 19 digits).
_PERSONAL_PATTERNS = (
    re.compile(r"(?<![0-9A-Za-z])[GLgl]?\d{17}[\dXx](?![0-9A-Za-z])"),
    re.compile(r"(?<!\d)\d{19}(?!\d)"),
    re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    for pattern in _PERSONAL_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


class PersonalDataRedactor(logging.Filter):
    """Masks identifiers that look personal in the message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


class TraceContextFilter(logging.Filter):
    """Adds the current OpenTelemetry trace and span ids so logs join their trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = ""
            record.span_id = ""
        return True


def json_formatter(service_name: str) -> logging.Formatter:
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}{trace_id}{span_id}",
        style="{",
        rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
        static_fields={"service": service_name},
        timestamp=False,
    )


def configure_logging(service_name: str, level: str = "INFO", stream: Any = None) -> None:
    """Routes the root logger to one JSON handler. Called once from a composition root."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(json_formatter(service_name))
    handler.addFilter(TraceContextFilter())
    handler.addFilter(PersonalDataRedactor())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Access logs and HTTP client request lines carry full URLs (with ids and query strings);
    # keep them out. Failures still reach the log through the callers' own messages.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
