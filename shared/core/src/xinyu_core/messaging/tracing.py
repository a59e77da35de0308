"""W3C trace context in Kafka headers, and the span attributes the messaging layer may set.

Only ``traceparent``/``tracestate`` travel, through the W3C propagator itself rather than the
globally configured one: a global composite propagator would also copy OpenTelemetry baggage,
which is free-form and could carry personal data onto the broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
TRACE_HEADERS: Final = (TRACEPARENT, TRACESTATE)

# Messaging semantic-convention attribute names. Keys (subjects) are deliberately absent: they
# are opaque, but a trace backend is not the place to build a per-student timeline.
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION: Final = "messaging.destination.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_CONSUMER_GROUP: Final = "messaging.consumer.group.name"
MESSAGING_PARTITION: Final = "messaging.destination.partition.id"
MESSAGING_OFFSET: Final = "messaging.kafka.offset"
ERROR_TYPE: Final = "error.type"

# What confluent-kafka may hand back as a record's headers.
RecordHeaders = dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]]

_PROPAGATOR: Final = TraceContextTextMapPropagator()


def capture_trace_headers(context: Context | None = None) -> dict[str, str]:
    """``traceparent``/``tracestate`` of ``context`` (default: the current one); empty if none."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return {name: value for name, value in carrier.items() if name in TRACE_HEADERS}


def context_from_headers(headers: Mapping[str, str]) -> Context:
    """The remote parent carried in ``headers``, on an empty context (never the ambient one)."""
    carrier = {name: headers[name] for name in TRACE_HEADERS if name in headers}
    return _PROPAGATOR.extract(carrier, context=Context())


def header_items(headers: RecordHeaders | None) -> list[tuple[str, str | bytes | None]]:
    """Headers in confluent-kafka's list form (it also accepts and may return a dict)."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def decode_headers(headers: RecordHeaders | None) -> dict[str, str]:
    """Kafka headers as text, last value winning; undecodable bytes are replaced, not fatal."""
    decoded: dict[str, str] = {}
    for name, value in header_items(headers):
        if value is None:
            continue
        decoded[name] = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return decoded
