"""The gateway's long-lived objects, built once per process in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import httpx
from fastapi import Request
from opentelemetry.sdk.trace import TracerProvider

from gateway.config import GatewaySettings
from xinyu.alerts.v1 import alerts_pb2_grpc
from xinyu.archives.v1 import archives_pb2_grpc
from xinyu.audit.v1 import audit_pb2_grpc
from xinyu.identity.v1 import accounts_pb2_grpc, identity_pb2_grpc, roster_pb2_grpc
from xinyu.screening.v1 import screening_pb2_grpc
from xinyu_core.audit import AuditRecorder, KafkaAuditRecorder
from xinyu_core.auth import JwksCache, ServiceTokenSource, TokenVerifier
from xinyu_core.grpc.client import open_channel
from xinyu_core.messaging import AsyncProducer, build_producer

SERVICE = "gateway"


@dataclass
class Runtime:
    settings: GatewaySettings
    http: httpx.AsyncClient
    jwks: JwksCache
    verifier: TokenVerifier
    channels: dict[str, grpc.aio.Channel]
    identity: identity_pb2_grpc.IdentityServiceStub
    audit_trail: audit_pb2_grpc.AuditServiceStub
    rosters: roster_pb2_grpc.RosterServiceStub
    accounts: accounts_pb2_grpc.StudentAccountServiceStub
    archives: archives_pb2_grpc.ArchivesServiceStub
    screening: screening_pb2_grpc.ScreeningServiceStub
    # The same service on a channel without Python interceptors, for the answer routes (the
    # hot path of a screening day); callers pass the deadline and trace context themselves.
    screening_direct: screening_pb2_grpc.ScreeningServiceStub
    alerts: alerts_pb2_grpc.AlertServiceStub
    # The gateway has no database: its refusals are produced straight to Kafka (acks=all).
    producer: AsyncProducer
    audit: AuditRecorder
    # The gateway's own client (GATEWAY_KEYCLOAK__CLIENT_ID/SECRET), for the one call made with
    # no person's token: a student's account activation, joining a screening sitting with its
    # codes, answers sent with a sitting token. None when not configured.
    service_tokens: ServiceTokenSource | None = None
    direct_channels: list[grpc.aio.Channel] = field(default_factory=list)

    async def close(self) -> None:
        for channel in [*self.channels.values(), *self.direct_channels]:
            await channel.close()
        await self.producer.close()
        await self.http.aclose()


def build_runtime(
    settings: GatewaySettings, tracer_provider: TracerProvider | None = None
) -> Runtime:
    http = httpx.AsyncClient()
    keycloak = settings.keycloak
    jwks = JwksCache(
        keycloak.resolved_jwks_url,
        http,
        refetch_cooldown_seconds=keycloak.jwks_refetch_cooldown_seconds,
        max_age_seconds=keycloak.jwks_max_age_seconds,
    )
    deadline = settings.backend_deadline_seconds
    channels = {
        "identity": open_channel(
            settings.identity_target,
            default_deadline_seconds=deadline,
            tracer_provider=tracer_provider,
        ),
        "archives": open_channel(
            settings.archives_target,
            default_deadline_seconds=deadline,
            tracer_provider=tracer_provider,
        ),
        "screening": open_channel(
            settings.screening_target,
            default_deadline_seconds=deadline,
            tracer_provider=tracer_provider,
        ),
        "alerts": open_channel(
            settings.alerts_target,
            default_deadline_seconds=deadline,
            tracer_provider=tracer_provider,
        ),
    }
    # Not in ``channels``: the same address, checked for readiness through "screening".
    screening_direct = open_channel(settings.screening_target, intercepted=False)
    producer = AsyncProducer(build_producer(settings.kafka, client_id=SERVICE))
    return Runtime(
        settings=settings,
        http=http,
        jwks=jwks,
        verifier=TokenVerifier(keycloak, jwks),
        channels=channels,
        identity=identity_pb2_grpc.IdentityServiceStub(channels["identity"]),
        audit_trail=audit_pb2_grpc.AuditServiceStub(channels["identity"]),
        rosters=roster_pb2_grpc.RosterServiceStub(channels["identity"]),
        accounts=accounts_pb2_grpc.StudentAccountServiceStub(channels["identity"]),
        archives=archives_pb2_grpc.ArchivesServiceStub(channels["archives"]),
        screening=screening_pb2_grpc.ScreeningServiceStub(channels["screening"]),
        screening_direct=screening_pb2_grpc.ScreeningServiceStub(screening_direct),
        alerts=alerts_pb2_grpc.AlertServiceStub(channels["alerts"]),
        direct_channels=[screening_direct],
        producer=producer,
        audit=KafkaAuditRecorder(
            SERVICE, producer, send_timeout_seconds=settings.audit_send_timeout_seconds
        ),
        service_tokens=(
            ServiceTokenSource(keycloak, http)
            if keycloak.client_id and keycloak.client_secret.get_secret_value()
            else None
        ),
    )


async def runtime(request: Request) -> Runtime:
    """FastAPI dependency: the process's runtime (async, so FastAPI does not hand it to a
    worker thread on every request)."""
    found: Runtime = request.app.state.runtime
    return found
