"""Authorisation as FastAPI dependencies.

The gateway checks that a caller is who the token says and holds a role the route allows
(docs/access-matrix.md); the service behind it checks scope and relationships again with the
same token. Every denial is written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from gateway.runtime import Runtime, runtime
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
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        ) from error


def allow(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers holding at least one of ``roles``."""
    allowed = frozenset(roles)

    async def check(
        request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        if principal.roles.isdisjoint(allowed):
            audit_denial(request, principal, "role not allowed on this route")
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


def _route_path(request: Request) -> str:
    """The route template (``/v1/students/{student_id}``), never the concrete URL with ids."""
    return str(getattr(request.scope.get("route"), "path", ""))
