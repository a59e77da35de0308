"""The gRPC server every service runs.

One builder wires what each service needs and nothing service-specific: the standard health
service, reflection outside production, OpenTelemetry, verification of the caller's Keycloak
token on every call (zero trust: the gateway already checked it, the service checks again),
domain error → status mapping, and a graceful stop on SIGTERM. Refusals (no valid token,
``PermissionDenied``) are handed to the service's :class:`~xinyu_core.audit.AuditRecorder`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider

from xinyu_core.audit import (
    ANONYMOUS,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    AuditRecorder,
    resource_of,
)
from xinyu_core.auth import Principal, TokenVerifier, bearer_token
from xinyu_core.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from xinyu_core.messaging._redact import error_fields

log = logging.getLogger(__name__)

FIELD_METADATA_KEY = "xinyu-field"
_PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "xinyu_principal", default=None
)

_STATUS_OF: tuple[tuple[type[DomainError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)


def status_of(error: DomainError) -> grpc.StatusCode:
    for error_type, code in _STATUS_OF:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.UNKNOWN


def current_principal() -> Principal:
    """The verified caller of the RPC being served. Servicers pass it to the use case."""
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("no verified caller")
    return principal


Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class GuardInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Verifies the bearer token, exposes the principal, maps domain errors to statuses, and
    records every refusal with ``audit`` (when given) before the caller hears of it."""

    def __init__(self, verifier: TokenVerifier, audit: AuditRecorder | None = None) -> None:
        self._verifier = verifier
        self._audit = audit

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(_PUBLIC_SERVICES):
            return handler
        if handler.unary_unary is None:
            # Streaming RPCs get their own guard when the first one is written.
            raise NotImplementedError(f"{method}: only unary RPCs are guarded yet")
        metadata = dict(handler_call_details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        return grpc.unary_unary_rpc_method_handler(
            self._guard(handler.unary_unary, authorization, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _guard(self, behaviour: Behaviour, authorization: str | None, method: str) -> Behaviour:
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                principal = await self._verifier.verify(bearer_token(authorization))
            except Unauthenticated as error:
                log.info("refused call to %s: %s", method, error.message)
                await self._record_denial(ANONYMOUS, method, request, UNAUTHENTICATED)
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, error.message)
            token = _principal.set(principal)
            try:
                return await behaviour(request, context)
            except DomainError as error:
                code = status_of(error)
                if isinstance(error, InvalidArgument):
                    context.set_trailing_metadata(((FIELD_METADATA_KEY, error.field),))
                if isinstance(error, PermissionDenied):
                    log.info("denied %s to subject %s", method, principal.subject)
                    await self._record_denial(principal, method, request, PERMISSION_DENIED)
                await context.abort(code, error.message)
            finally:
                _principal.reset(token)

        return guarded

    async def _record_denial(
        self, principal: Principal, method: str, request: Any, reason: str
    ) -> None:
        if self._audit is None:
            return
        resource_type, resource_id = resource_of(request)
        try:
            await self._audit.denied(principal, method, resource_type, resource_id, reason)
        except Exception as exc:  # a recorder bug must not turn a refusal into INTERNAL
            log.error("audit recorder failed", extra=error_fields(exc))


@dataclass
class Registration:
    """One gRPC service to serve: its generated ``add_*_to_server`` and the servicer."""

    full_name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health_async.HealthServicer
    port: int
    service_names: Sequence[str]
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        await self.server.start()
        for name in (*self.service_names, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Says NOT_SERVING first so balancers drain, then lets calls in flight finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)
        self._stopped.set()


def build_server(
    listen: str,
    registrations: Iterable[Registration],
    verifier: TokenVerifier,
    *,
    reflection_enabled: bool,
    tracer_provider: TracerProvider | None = None,
    audit: AuditRecorder | None = None,
) -> GrpcServer:
    """Builds, but does not start, a server on ``listen`` (``host:port``; port 0 picks one).

    ``audit`` records the guard's refusals; every service passes one (None only in tests of
    the chassis itself, where refusals are just logged)."""
    server = grpc.aio.server(
        interceptors=[
            aio_server_interceptor(tracer_provider=tracer_provider),
            GuardInterceptor(verifier, audit),
        ],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
        ],
    )
    registered = list(registrations)
    for registration in registered:
        registration.add_to_server(registration.servicer, server)
    health = health_async.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [registration.full_name for registration in registered]
    if reflection_enabled:
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
    port = server.add_insecure_port(listen)
    return GrpcServer(server=server, health=health, port=port, service_names=names)


async def run_until_terminated(
    server: GrpcServer,
    *,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    grace_seconds: float = 10.0,
) -> None:
    """Starts the server and background loops; on SIGTERM or SIGINT stops them gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    tasks = [asyncio.create_task(job()) for job in background]
    log.info("grpc server serving on port %d", server.port)
    try:
        await stop.wait()
    finally:
        log.info("stopping: draining calls for up to %.0fs", grace_seconds)
        for callback in on_stop:
            await callback()
        await server.stop(grace_seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
