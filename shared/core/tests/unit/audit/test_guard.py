"""The gRPC guard hands every refusal to the recorder before the caller hears of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from xinyu.archives.v1 import archives_pb2, archives_pb2_grpc
from xinyu_core.audit import NIL_SUBJECT
from xinyu_core.auth import JwksCache, Principal, TokenVerifier
from xinyu_core.errors import NotFound, PermissionDenied
from xinyu_core.grpc.client import bearer_metadata, open_channel
from xinyu_core.grpc.server import Registration, build_server
from xinyu_core.settings import KeycloakSettings

from ..conftest import AUDIENCE, ISSUER, FakeKeycloak, ManualClock, SigningKey

STUDENT = "6f1d2b9e-3c4a-4e8b-9a0d-1b2c3d4e5f60"
FAKE_ID_NUMBER = "36070220150101123X"
SUBJECT = "0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21"
METHOD = "/xinyu.archives.v1.ArchivesService/GetArchive"


@dataclass
class Denial:
    subject: str
    action: str
    resource_type: str
    resource_id: str
    reason: str


@dataclass
class FakeRecorder:
    denials: list[Denial] = field(default_factory=list)
    broken: bool = False

    async def denied(
        self,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
        reason: str,
    ) -> None:
        if self.broken:
            raise RuntimeError("recorder bug")
        self.denials.append(Denial(principal.subject, action, resource_type, resource_id, reason))

    async def sensitive_read(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
    ) -> None:
        raise AssertionError("the guard records no reads")


class Archives(archives_pb2_grpc.ArchivesServiceServicer):
    """Refuses every student except the one it knows nothing about."""

    async def GetArchive(
        self, request: archives_pb2.GetArchiveRequest, context: grpc.aio.ServicerContext
    ) -> archives_pb2.GetArchiveResponse:
        if request.student_id == "missing":
            raise NotFound("no archive")
        raise PermissionDenied("outside the caller's scope")


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()


@pytest.fixture
async def stub(
    keycloak: FakeKeycloak, clock: ManualClock, recorder: FakeRecorder
) -> AsyncIterator[archives_pb2_grpc.ArchivesServiceStub]:
    settings = KeycloakSettings(issuer=ISSUER, audience=AUDIENCE)
    jwks = JwksCache(
        settings.resolved_jwks_url,
        keycloak.client(),
        refetch_cooldown_seconds=30,
        max_age_seconds=600,
        clock=clock,
    )
    server = build_server(
        "127.0.0.1:0",
        [
            Registration(
                "xinyu.archives.v1.ArchivesService",
                archives_pb2_grpc.add_ArchivesServiceServicer_to_server,
                Archives(),
            )
        ],
        TokenVerifier(settings, jwks),
        reflection_enabled=False,
        audit=recorder,
    )
    await server.start()
    channel = open_channel(f"127.0.0.1:{server.port}")
    yield archives_pb2_grpc.ArchivesServiceStub(channel)
    await channel.close()
    await server.stop(0)


async def refused(
    stub: archives_pb2_grpc.ArchivesServiceStub, student_id: str, token: str | None
) -> grpc.StatusCode:
    metadata = bearer_metadata(token) if token else None
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.GetArchive(
            archives_pb2.GetArchiveRequest(student_id=student_id), metadata=metadata
        )
    return error.value.code()


async def test_permission_denied_is_recorded_with_the_requests_student_id(
    stub: archives_pb2_grpc.ArchivesServiceStub, recorder: FakeRecorder, signing_key: SigningKey
) -> None:
    code = await refused(stub, STUDENT, signing_key.sign(sub=SUBJECT))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert recorder.denials == [Denial(SUBJECT, METHOD, "student", STUDENT, "permission-denied")]


async def test_an_id_number_in_the_request_is_not_recorded(
    stub: archives_pb2_grpc.ArchivesServiceStub, recorder: FakeRecorder, signing_key: SigningKey
) -> None:
    await refused(stub, FAKE_ID_NUMBER, signing_key.sign(sub=SUBJECT))
    assert recorder.denials == [Denial(SUBJECT, METHOD, "student", "", "permission-denied")]


async def test_a_call_without_a_valid_token_is_recorded_as_the_nil_subject(
    stub: archives_pb2_grpc.ArchivesServiceStub, recorder: FakeRecorder, signing_key: SigningKey
) -> None:
    assert await refused(stub, STUDENT, None) == grpc.StatusCode.UNAUTHENTICATED
    assert await refused(stub, STUDENT, signing_key.sign(exp=1)) == grpc.StatusCode.UNAUTHENTICATED
    assert [d.subject for d in recorder.denials] == [NIL_SUBJECT, NIL_SUBJECT]
    assert {d.reason for d in recorder.denials} == {"unauthenticated"}


async def test_other_errors_are_not_denials(
    stub: archives_pb2_grpc.ArchivesServiceStub, recorder: FakeRecorder, signing_key: SigningKey
) -> None:
    assert await refused(stub, "missing", signing_key.sign()) == grpc.StatusCode.NOT_FOUND
    assert recorder.denials == []


async def test_a_broken_recorder_does_not_change_the_refusal(
    stub: archives_pb2_grpc.ArchivesServiceStub, recorder: FakeRecorder, signing_key: SigningKey
) -> None:
    recorder.broken = True
    code = await refused(stub, STUDENT, signing_key.sign())
    assert code == grpc.StatusCode.PERMISSION_DENIED
