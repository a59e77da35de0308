"""OpenTelemetry set-up from the standard ``OTEL_*`` environment variables.

``OTEL_SERVICE_NAME`` (defaults to the service's one name), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_EXPORTER`` (``otlp`` | ``console`` | ``none``; ``otlp`` when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else ``none``), ``OTEL_EXPORTER_OTLP_*`` and
``OTEL_TRACES_SAMPLER*`` are all read by the SDK itself; this module only chooses the exporter
and installs the W3C propagators. Called from a composition root, never at import time.
"""

from __future__ import annotations

import os

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


def _exporter_from_environment() -> SpanExporter | None:
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not choice:
        choice = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "none"
    if choice == "none":
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER={choice!r} is not supported (otlp, console, none)")


def setup_telemetry(
    service_name: str,
    *,
    extra_processor: SpanProcessor | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Builds the tracer provider for one process and (by default) installs it globally.

    ``extra_processor`` lets tests attach an in-memory exporter to a real set-up.
    """
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    exporter = _exporter_from_environment()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    if set_global:
        trace.set_tracer_provider(provider)
    return provider
