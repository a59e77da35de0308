"""The chassis gRPC server on a loopback port: guard, error mapping, health, shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from xinyu.archives.v1 import archives_pb2, archives_pb2_grpc
from xinyu_core.auth import JwksCache, TokenVerifier
from xinyu_core.errors import InvalidArgument, PermissionDenied
from xinyu_core.grpc.client import bearer_metadata, open_channel
from xinyu_core.grpc.server import (
    FIELD_METADATA_KEY,
    GrpcServer,
    Registration,
    build_server,
    current_principal,
)
from xinyu_core.settings import KeycloakSettings

from .conftest import AUDIENCE, ISSUER, FakeKeycloak, ManualClock, SigningKey


class EchoArchives(archives_pb2_grpc.ArchivesServiceServicer):
    """Answers with who called, or raises the domain error the student id names."""

    async def GetArchive(
        self, request: archives_pb2.GetArchiveRequest, context: grpc.aio.ServicerContext
    ) -> archives_pb2.GetArchiveResponse:
        if request.student_id == "invalid":
            raise InvalidArgument("student_id", "must be a UUID")
        if request.student_id == "denied":
            raise PermissionDenied("outside the caller's scope")
        caller = current_principal()
        return archives_pb2.GetArchiveResponse(
            archive=archives_pb2.Archive(school_code=caller.org_unit)
        )


@pytest.fixture
async def served(
    keycloak: FakeKeycloak, clock: ManualClock
) -> AsyncIterator[tuple[GrpcServer, grpc.aio.Channel]]:
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
                EchoArchives(),
            )
        ],
        TokenVerifier(settings, jwks),
        reflection_enabled=False,
    )
    await server.start()
    channel = open_channel(f"127.0.0.1:{server.port}")
    yield server, channel
    await channel.close()
    await server.stop(0)


async def test_call_without_token_is_unauthenticated(
    served: tuple[GrpcServer, grpc.aio.Channel],
) -> None:
    stub = archives_pb2_grpc.ArchivesServiceStub(served[1])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetArchive(archives_pb2.GetArchiveRequest(student_id="x"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_verified_caller_reaches_the_servicer(
    served: tuple[GrpcServer, grpc.aio.Channel], signing_key: SigningKey
) -> None:
    stub = archives_pb2_grpc.ArchivesServiceStub(served[1])
    reply = await stub.GetArchive(
        archives_pb2.GetArchiveRequest(student_id="x"),
        metadata=bearer_metadata(signing_key.sign(org_unit="3607020001")),
    )
    assert reply.archive.school_code == "3607020001"


async def test_domain_errors_map_to_statuses_and_name_the_field(
    served: tuple[GrpcServer, grpc.aio.Channel], signing_key: SigningKey
) -> None:
    stub = archives_pb2_grpc.ArchivesServiceStub(served[1])
    metadata = bearer_metadata(signing_key.sign())
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.GetArchive(
            archives_pb2.GetArchiveRequest(student_id="invalid"), metadata=metadata
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(invalid.value.trailing_metadata() or ())[FIELD_METADATA_KEY] == "student_id"
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.GetArchive(
            archives_pb2.GetArchiveRequest(student_id="denied"), metadata=metadata
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_health_is_public_and_turns_not_serving_on_stop(
    served: tuple[GrpcServer, grpc.aio.Channel],
) -> None:
    server, channel = served
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(
        health_pb2.HealthCheckRequest(service="xinyu.archives.v1.ArchivesService")
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await server.health.enter_graceful_shutdown()
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
