"""The gateway's student-account routes against a fake StudentAccountService: slips come back
once and uncached, activation goes out with the gateway's own token (never the caller's) and
identity's refusals become the answers a student should see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from fastapi import FastAPI
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.routers import accounts
from xinyu.identity.v1 import accounts_pb2 as pb
from xinyu_core.testing import principal

CLASS = "3607020001-2024-01"


class Verifier:
    async def verify(self, token: str) -> Any:
        return principal("school_admin", org_unit="3607020001")


class Tokens:
    async def token(self) -> str:
        return "gateway-service-token"


def refused(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@dataclass
class FakeAccounts:
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    error: grpc.aio.AioRpcError | None = None

    async def IssueActivationCodes(self, request: Any, metadata: Any) -> Any:
        self.calls.append(("issue", request, metadata))
        expires = Timestamp()
        expires.FromSeconds(1_800_000_000)
        return pb.IssueActivationCodesResponse(
            batch_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
            class_code=request.class_code,
            slips=[
                pb.ActivationSlip(
                    student_id="00000000-0000-4000-8000-000000000001",
                    full_name="林小雨",
                    login_name="s3607020001-0001",
                    activation_code="ABCD-EFGH-JK",
                )
            ],
            expires_at=expires,
            without_account=1,
        )

    async def ActivateStudentAccount(self, request: Any, metadata: Any) -> Any:
        self.calls.append(("activate", request, metadata))
        if self.error is not None:
            raise self.error
        return pb.ActivateStudentAccountResponse(login_name=request.login_name)


@dataclass
class FakeRuntime:
    accounts: FakeAccounts
    service_tokens: Tokens | None = field(default_factory=Tokens)
    verifier: Verifier = field(default_factory=Verifier)


def client(fake: FakeAccounts, tokens: Tokens | None = None, **headers: str) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(accounts.router)
    app.state.runtime = FakeRuntime(fake, tokens)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers=headers
    )


BODY = {"login_name": "s3607020001-0001", "activation_code": "ABCD-EFGH-JK", "new_password": "x"}


async def test_slips_come_back_once_and_are_not_cached() -> None:
    fake = FakeAccounts()
    async with client(fake, Tokens(), Authorization="Bearer admin-token") as http:
        reply = await http.post(f"/v1/classes/{CLASS}/activation-codes")
    assert reply.status_code == 201
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json()["slips"][0]["activation_code"] == "ABCD-EFGH-JK"
    assert reply.json()["without_account"] == 1
    _, request, metadata = fake.calls[0]
    assert request.class_code == CLASS
    assert ("authorization", "Bearer unit-test-token") in metadata  # the caller's own token


async def test_activation_goes_out_as_the_gateway_whatever_the_caller_sends() -> None:
    fake = FakeAccounts()
    async with client(fake, Tokens(), Authorization="Bearer someone-elses") as http:
        reply = await http.post("/v1/account-activations", json=BODY)
    assert reply.status_code == 200
    assert reply.json() == {"login_name": "s3607020001-0001"}
    _, request, metadata = fake.calls[0]
    assert request.new_password == "x"
    assert ("authorization", "Bearer gateway-service-token") in metadata


async def test_refusals_read_alike_and_a_lock_is_429() -> None:
    fake = FakeAccounts(error=refused(grpc.StatusCode.PERMISSION_DENIED, "whatever identity says"))
    async with client(fake, Tokens()) as http:
        wrong = await http.post("/v1/account-activations", json=BODY)
        fake.error = refused(grpc.StatusCode.FAILED_PRECONDITION, "too many wrong codes")
        locked = await http.post("/v1/account-activations", json=BODY)
    assert wrong.status_code == 403
    assert wrong.json() == {"detail": accounts.REFUSED}
    assert locked.status_code == 429


async def test_without_its_own_client_the_gateway_cannot_activate() -> None:
    fake = FakeAccounts()
    async with client(fake, None) as http:
        reply = await http.post("/v1/account-activations", json=BODY)
    assert reply.status_code == 503
    assert fake.calls == []
