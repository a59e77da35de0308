"""Client channels without interceptors (a hot path's): the call still works with the caller's
own deadline, and trace_metadata carries the caller's trace so the callee's spans join it."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from xinyu_core.grpc.client import open_channel, trace_metadata


def test_trace_metadata_is_the_current_trace_context() -> None:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    try:
        assert trace_metadata() == ()
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("request") as span:
            metadata = dict(trace_metadata())
    finally:
        propagate.set_global_textmap(before)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert metadata["traceparent"].split("-")[1] == trace_id


async def test_a_channel_without_interceptors_calls_with_the_callers_deadline() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        channel = open_channel(f"127.0.0.1:{port}", intercepted=False)
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2.0
            )
        finally:
            await channel.close()
    finally:
        await server.stop(None)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_calls_go_round_robin_over_every_address_of_the_target() -> None:
    counts = [0, 0]

    class Counting(health.aio.HealthServicer):  # type: ignore[misc]
        def __init__(self, n: int) -> None:
            super().__init__()
            self._n = n

        async def Check(
            self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
        ) -> health_pb2.HealthCheckResponse:
            counts[self._n] += 1
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    servers, ports = [], []
    for n in range(2):
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(Counting(n), server)
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        servers.append(server)
    channel = open_channel(f"ipv4:127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", intercepted=False)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(20):
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        await channel.close()
        for server in servers:
            await server.stop(None)
    # Both processes take calls (the first calls may all go to whichever connected first).
    assert sum(counts) == 20
    assert min(counts) >= 5
