"""gRPC ⇄ domain translation for StudentAccountService. No business rules here."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from identity.accounts.activation import StudentActivation, require_class_code
from xinyu.identity.v1 import accounts_pb2, accounts_pb2_grpc
from xinyu_core.grpc.server import current_principal

SERVICE_NAME = "xinyu.identity.v1.StudentAccountService"


class StudentAccountServicer(accounts_pb2_grpc.StudentAccountServiceServicer):
    def __init__(self, activation: StudentActivation) -> None:
        self._activation = activation

    async def IssueActivationCodes(
        self,
        request: accounts_pb2.IssueActivationCodesRequest,
        context: grpc.aio.ServicerContext,
    ) -> accounts_pb2.IssueActivationCodesResponse:
        issued = await self._activation.issue(
            current_principal(), require_class_code(request.class_code)
        )
        expires = Timestamp()
        expires.FromDatetime(issued.batch.expires_at)
        return accounts_pb2.IssueActivationCodesResponse(
            batch_id=str(issued.batch.batch_id),
            class_code=issued.batch.class_code,
            slips=[
                accounts_pb2.ActivationSlip(
                    student_id=str(slip.student_id),
                    full_name=slip.full_name,
                    login_name=slip.login_name,
                    activation_code=slip.code,
                )
                for slip in issued.slips
            ],
            expires_at=expires,
            without_account=issued.without_account,
            already_activated=issued.already_activated,
        )

    async def ActivateStudentAccount(
        self,
        request: accounts_pb2.ActivateStudentAccountRequest,
        context: grpc.aio.ServicerContext,
    ) -> accounts_pb2.ActivateStudentAccountResponse:
        username = await self._activation.activate(
            current_principal(), request.login_name, request.activation_code, request.new_password
        )
        return accounts_pb2.ActivateStudentAccountResponse(login_name=username)
