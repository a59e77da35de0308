"""Calls to services: forwards the caller's token and turns gRPC statuses into HTTP errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
import httpx
from fastapi import HTTPException, Request, status

from gateway.access import audit_denial
from gateway.runtime import Runtime
from xinyu_core.auth import Principal
from xinyu_core.grpc.client import bearer_metadata
from xinyu_core.grpc.server import FIELD_METADATA_KEY

log = logging.getLogger(__name__)

Response = TypeVar("Response")

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: status.HTTP_422_UNPROCESSABLE_CONTENT,
    grpc.StatusCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: status.HTTP_409_CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: status.HTTP_409_CONFLICT,
    grpc.StatusCode.PERMISSION_DENIED: status.HTTP_403_FORBIDDEN,
    grpc.StatusCode.UNAUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
    grpc.StatusCode.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def forwarded(principal: Principal) -> tuple[tuple[str, str], ...]:
    return bearer_metadata(principal.token)


async def call(request: Request, principal: Principal, pending: Awaitable[Response]) -> Response:
    """Awaits a stub call made with :func:`forwarded` metadata, translating failures."""
    try:
        return await pending
    except grpc.aio.AioRpcError as error:
        raise _http_error(request, principal, error) from error


async def ask(request: Request, principal: Principal, rpc: Any, message: Any) -> Any:
    """Calls ``rpc(message)`` on the caller's behalf (their token forwarded) and translates
    a failure into the HTTP error a person should see."""
    return await call(request, principal, rpc(message, metadata=forwarded(principal)))


async def own_token(rt: Runtime, purpose: str) -> str:
    """The gateway's own service token (client credentials), for a call with no person's
    Keycloak token behind it; 503 naming ``purpose`` when the gateway has no client."""
    if rt.service_tokens is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"{purpose} is not configured"
        )
    try:
        return await rt.service_tokens.token()
    except httpx.HTTPError as error:
        log.warning("no service token", extra={"error_type": type(error).__name__})
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="a platform service is unavailable; retry"
        ) from error


def _http_error(
    request: Request, principal: Principal, error: grpc.aio.AioRpcError
) -> HTTPException:
    code = error.code()
    http_status = _HTTP_STATUS.get(code, status.HTTP_502_BAD_GATEWAY)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        trailing = dict(error.trailing_metadata() or ())
        field = str(trailing.get(FIELD_METADATA_KEY, ""))
        message = error.details() or "invalid"
        if field and message.startswith(f"{field}: "):
            message = message[len(field) + 2 :]
        return HTTPException(
            http_status, detail=[{"loc": ["body", field] if field else ["body"], "msg": message}]
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        audit_denial(request, principal, "refused by the service")
        return HTTPException(http_status, detail="outside your scope")
    if http_status >= 500:
        return HTTPException(http_status, detail="a platform service is unavailable; retry")
    return HTTPException(http_status, detail=error.details() or code.name.lower())
