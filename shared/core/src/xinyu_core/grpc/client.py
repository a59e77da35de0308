"""Channels to other services: a default deadline, retries on UNAVAILABLE, trace propagation,
and the caller's token forwarded on every call."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import propagate
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.trace import TracerProvider

# gRPC's own retry machinery (service config), so retries honour the overall deadline and
# never repeat a call that the server may have executed (UNAVAILABLE only). Calls go round-robin
# over every address the target resolves to ("ipv4:127.0.0.1:50062,127.0.0.1:50072", or a
# headless Service's dns:///), so several processes of one service share the calls of one
# channel; with a single address it is the same as gRPC's default pick_first.
_RETRY_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


class DefaultDeadline(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Gives every call a deadline unless the caller chose one: nothing waits forever."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        if client_call_details.timeout is None:
            client_call_details = grpc.aio.ClientCallDetails(
                method=client_call_details.method,
                timeout=self._seconds,
                metadata=client_call_details.metadata,
                credentials=client_call_details.credentials,
                wait_for_ready=client_call_details.wait_for_ready,
            )
        return await continuation(client_call_details, request)


def open_channel(
    target: str,
    *,
    default_deadline_seconds: float = 5.0,
    tracer_provider: TracerProvider | None = None,
    intercepted: bool = True,
) -> grpc.aio.Channel:
    """A channel with retries on UNAVAILABLE. ``intercepted=False`` leaves out the Python
    interceptors (client spans, the default deadline), which cost a hot path about a third of a
    millisecond per call: its callers pass ``timeout=`` and :func:`trace_metadata` themselves."""
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _RETRY_SERVICE_CONFIG),
            ("grpc.keepalive_time_ms", 30_000),
        ],
        interceptors=(
            [
                *aio_client_interceptors(tracer_provider=tracer_provider),
                DefaultDeadline(default_deadline_seconds),
            ]
            if intercepted
            else None
        ),
    )


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context (``traceparent``…) as metadata, for a call on a channel
    without interceptors, so the callee's spans still join the caller's trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Metadata that forwards a caller's token to the next service."""
    return (("authorization", f"Bearer {token}"),)
