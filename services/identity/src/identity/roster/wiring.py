"""Builds RosterService for the composition root (``bootstrap.py`` calls only this)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.api.roster_servicer import RosterServicer
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.student_number import StudentNumberProtector
from identity.roster.importer import Connect, RosterImporter
from identity.roster.service import BackgroundImports, RosterImports
from identity.roster.store import RosterJobs
from xinyu.identity.v1 import roster_pb2_grpc
from xinyu_core.grpc.server import Registration


def connector(database_url: str, **options: Any) -> Connect:
    """Plain psycopg connections to the service's database: COPY and a long transaction on a
    worker thread are simpler there than through the async engine."""
    conninfo = make_url(database_url).set(drivername="postgresql")
    target = conninfo.render_as_string(hide_password=False)

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(target, **options)

    return connect


def roster_service(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    protector: ResidentIdProtector,
    numbers: StudentNumberProtector,
) -> Registration:
    connect = connector(database_url)
    importer = RosterImporter(connect, protector, numbers, clock=lambda: datetime.now(UTC))
    imports = RosterImports(RosterJobs(sessions), BackgroundImports(connect, importer))
    return Registration(
        "xinyu.identity.v1.RosterService",
        roster_pb2_grpc.add_RosterServiceServicer_to_server,
        RosterServicer(imports),
    )
