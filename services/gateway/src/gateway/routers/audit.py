"""The audit trail (R5), for auditors and the city: who read or was refused what. Served by
identity's AuditService; every listing is itself recorded there."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from gateway.access import allow
from gateway.backend import ask
from gateway.proto_json import enum_number, to_json
from gateway.runtime import Runtime, runtime
from xinyu.audit.v1 import audit_pb2 as pb
from xinyu_core.auth import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AUDIT_READERS = ("auditor", "city_admin")


@router.get("/records")
async def list_audit_records(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*AUDIT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    actor_subject: str = "",
    resource_id: str = "",
    outcome: Literal["allowed", "denied"] | None = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: str = "",
) -> dict[str, Any]:
    """Records newest first, filtered by actor, resource and outcome."""
    reply = await ask(
        request,
        principal,
        rt.audit_trail.ListAuditRecords,
        pb.ListAuditRecordsRequest(
            actor_subject=actor_subject,
            resource_id=resource_id,
            outcome=enum_number(pb.Outcome.DESCRIPTOR, outcome) if outcome else 0,  # type: ignore[arg-type]
            page_size=page_size,
            page_token=page_token,
        ),
    )
    return to_json(reply)


@router.get("/verification")
async def verify_audit_chain(
    request: Request,
    principal: Annotated[Principal, Depends(allow(*AUDIT_READERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> dict[str, Any]:
    """Walks the hash chain and reports whether it is intact, or the first broken link."""
    reply = await ask(
        request, principal, rt.audit_trail.VerifyAuditChain, pb.VerifyAuditChainRequest()
    )
    return to_json(reply)
