"""Liveness and readiness, which mean different things.

``/livez``: the process answers; restarting it would not help anything else. ``/readyz``: it
can do useful work now — it holds Keycloak's signing keys and every backend reports SERVING —
so a balancer may send it traffic.
"""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Response, status
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.runtime import Runtime, runtime

router = APIRouter(tags=["health"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def readyz(response: Response, rt: Annotated[Runtime, Depends(runtime)]) -> dict[str, str]:
    checks: dict[str, str] = {}
    checks["keycloak_keys"] = "ok" if await rt.jwks.ensure_loaded() else "no signing keys"
    for name, channel in rt.channels.items():
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
            checks[name] = "ok" if serving else "not serving"
        except grpc.aio.AioRpcError as error:
            checks[name] = error.code().name.lower()
    ready = all(value == "ok" for value in checks.values())
    response.status_code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "not ready", **checks}
