"""Authorisation as FastAPI dependencies.

The gateway checks that a caller is who the token says and holds a role the route allows
(docs/access-matrix.md); the service behind it checks scope and relationships again with the
same token. Every refusal the gateway makes itself (401, 403) is recorded in the platform's
audit log before the caller is answered; a refusal passed on from a service was recorded by
that service, so here it is only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from gateway.runtime import Runtime, runtime
from xinyu_core.audit import ANONYMOUS, ROLE_NOT_ALLOWED, UNAUTHENTICATED, opaque_id
from xinyu_core.audit.events import RESOURCE_FIELDS
from xinyu_core.auth import Principal, bearer_token
from xinyu_core.errors import Unauthenticated

audit = logging.getLogger("xinyu.audit")


async def authenticated(
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    try:
        return await rt.verifier.verify(bearer_token(authorization))
    except Unauthenticated as error:
        audit.info(
            "access.unauthenticated",
            extra={"route": _route_path(request), "reason": error.message},
        )
        await record_denial(rt, request, ANONYMOUS, UNAUTHENTICATED)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        ) from error


def allow(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers holding at least one of ``roles``."""
    allowed = frozenset(roles)

    async def check(
        request: Request,
        principal: Annotated[Principal, Depends(authenticated)],
        rt: Annotated[Runtime, Depends(runtime)],
    ) -> Principal:
        if principal.roles.isdisjoint(allowed):
            audit_denial(request, principal, "role not allowed on this route")
            await record_denial(rt, request, principal, ROLE_NOT_ALLOWED)
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="not allowed for your role")
        return principal

    return check


def audit_denial(request: Request, principal: Principal, reason: str) -> None:
    audit.info(
        "access.denied",
        extra={
            "subject": principal.subject,
            "route": _route_path(request),
            "method": request.method,
            "reason": reason,
        },
    )


async def record_denial(rt: Runtime, request: Request, principal: Principal, reason: str) -> None:
    """The refusal's audit record, acknowledged by the broker (or logged as lost) on return."""
    resource_type, resource_id = _resource(request)
    await rt.audit.denied(
        principal, f"{request.method} {_route_path(request)}", resource_type, resource_id, reason
    )


def _resource(request: Request) -> tuple[str, str]:
    """What the route names, from its path parameters; only an opaque id is kept."""
    for parameter, resource_type in RESOURCE_FIELDS:
        value = request.path_params.get(parameter)
        if isinstance(value, str):
            return resource_type, opaque_id(value)
    return "", ""


def _route_path(request: Request) -> str:
    """The route template (``/v1/students/{student_id}``), never the concrete URL with ids."""
    return str(getattr(request.scope.get("route"), "path", ""))
