"""Students' first sign-in (identity's StudentAccountService).

A school admin fetches a class's activation slips once (``POST
/v1/classes/{class_code}/activation-codes``: the codes are in this answer only, never stored in
clear). A student who has no password yet, and so no token, activates with the login name, the
code and a new password (``POST /v1/account-activations``): the gateway forwards that as its own
service client (client credentials of ``GATEWAY_KEYCLOAK__CLIENT_ID/SECRET``), the only client
identity accepts for it. Afterwards the student signs in to Keycloak like anybody else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from gateway.access import allow
from gateway.backend import ask, call, own_token
from gateway.runtime import Runtime, runtime
from xinyu.identity.v1 import accounts_pb2 as pb
from xinyu_core.audit import ANONYMOUS
from xinyu_core.auth import Principal
from xinyu_core.grpc.client import bearer_metadata

router = APIRouter(tags=["student accounts"])

ISSUERS = ("school_admin",)
REFUSED = "the login name or activation code is not valid"


class SlipView(BaseModel):
    student_id: str
    full_name: str
    login_name: str
    activation_code: str


class ActivationSlipsView(BaseModel):
    batch_id: str
    class_code: str
    expires_at: datetime
    slips: list[SlipView]
    without_account: int = Field(description="students of the class without an account yet")
    already_activated: int


class ActivationBody(BaseModel):
    login_name: str = Field(min_length=3, max_length=64)
    activation_code: str = Field(min_length=1, max_length=32)
    new_password: str = Field(min_length=1, max_length=128)


class ActivatedView(BaseModel):
    login_name: str


@router.post(
    "/v1/classes/{class_code}/activation-codes",
    response_model=ActivationSlipsView,
    status_code=status.HTTP_201_CREATED,
)
async def issue_activation_codes(
    class_code: str,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(allow(*ISSUERS))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> ActivationSlipsView:
    """One-time activation codes for the class's students who have an account and no password
    yet, to print on slips. Shown this once; a new call replaces them (and unlocks)."""
    reply = await ask(
        request,
        principal,
        rt.accounts.IssueActivationCodes,
        pb.IssueActivationCodesRequest(class_code=class_code),
    )
    response.headers["Cache-Control"] = "no-store"
    return ActivationSlipsView(
        batch_id=reply.batch_id,
        class_code=reply.class_code,
        expires_at=reply.expires_at.ToDatetime(tzinfo=UTC),
        slips=[
            SlipView(
                student_id=s.student_id,
                full_name=s.full_name,
                login_name=s.login_name,
                activation_code=s.activation_code,
            )
            for s in reply.slips
        ],
        without_account=reply.without_account,
        already_activated=reply.already_activated,
    )


@router.post("/v1/account-activations", response_model=ActivatedView)
async def activate_account(
    body: ActivationBody,
    request: Request,
    rt: Annotated[Runtime, Depends(runtime)],
) -> ActivatedView:
    """A student's first sign-in: login name and activation code from the slip, and a new
    password (12+ characters with a digit, upper and lower case and a special character). Open
    to callers without a token; 403 for a wrong, used or expired code or an unknown login name
    (they read alike), 429 once a login name is locked after 5 wrong codes."""
    token = await own_token(rt, "account activation")
    message = pb.ActivateStudentAccountRequest(
        login_name=body.login_name,
        activation_code=body.activation_code,
        new_password=body.new_password,
    )
    try:
        reply = await call(
            request,
            ANONYMOUS,
            rt.accounts.ActivateStudentAccount(message, metadata=bearer_metadata(token)),
        )
    except HTTPException as error:
        if error.status_code == status.HTTP_403_FORBIDDEN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=REFUSED) from error
        if error.status_code == status.HTTP_409_CONFLICT:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=error.detail) from error
        raise
    return ActivatedView(login_name=reply.login_name)
