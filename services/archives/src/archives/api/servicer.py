"""gRPC ⇄ domain translation for ArchivesService. No business rules here."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from archives.domain.model import Archive
from archives.domain.use_cases import ArchiveQueries
from xinyu.archives.v1 import archives_pb2, archives_pb2_grpc
from xinyu_core.grpc.server import current_principal


def archive_message(archive: Archive) -> archives_pb2.Archive:
    opened_at = Timestamp()
    opened_at.FromDatetime(archive.opened_at)
    return archives_pb2.Archive(
        archive_id=str(archive.archive_id),
        student_id=str(archive.student_id),
        school_code=archive.school_code,
        county_code=archive.county_code,
        opened_at=opened_at,
    )


class ArchivesServicer(archives_pb2_grpc.ArchivesServiceServicer):
    def __init__(self, queries: ArchiveQueries) -> None:
        self._queries = queries

    async def GetArchive(
        self, request: archives_pb2.GetArchiveRequest, context: grpc.aio.ServicerContext
    ) -> archives_pb2.GetArchiveResponse:
        archive = await self._queries.get(current_principal(), request.student_id)
        return archives_pb2.GetArchiveResponse(archive=archive_message(archive))
