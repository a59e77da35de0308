"""The gateway's FastAPI application: the only HTTP surface for people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span

from gateway.config import GatewaySettings
from gateway.routers import (
    accounts,
    alerts,
    audit,
    health,
    organisation,
    rosters,
    screening,
    students,
)
from gateway.runtime import build_runtime

# Concrete URLs carry ids (and whatever a caller typed into a path or query string); spans keep
# the route template in their name instead.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full", "url.query")


def _withhold_concrete_url(span: Span | None, scope: dict[str, Any]) -> None:
    if span is not None and span.is_recording():
        for attribute in _URL_ATTRIBUTES:
            span.set_attribute(attribute, "[withheld]")


def create_app(settings: GatewaySettings, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """Builds the app; its runtime (HTTP client, channels, verifier) lives in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = build_runtime(settings, tracer_provider)
        try:
            yield
        finally:
            await app.state.runtime.close()

    app = FastAPI(
        title="Xinyu gateway",
        version="0.1.0",
        summary="Ganzhou student mental-health service platform: the API for web and mobile apps",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    # First: routes are matched in order (and the tracing middleware matches again), and the
    # screening answer routes carry a whole county's classes on a screening day.
    app.include_router(screening.router)
    app.include_router(students.router)
    app.include_router(organisation.router)
    app.include_router(audit.router)
    app.include_router(rosters.router)
    app.include_router(accounts.router)
    app.include_router(alerts.router)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="livez,readyz",
        server_request_hook=_withhold_concrete_url,
        # One server span per request, without the internal spans of each ASGI receive and
        # send (three more per request, and a measurable share of the gateway's time).
        exclude_spans=["receive", "send"],
    )
    return app
