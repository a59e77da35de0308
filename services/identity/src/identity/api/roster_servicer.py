"""gRPC ⇄ domain translation for RosterService. No business rules here."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from identity.roster.model import JobStatus, RosterFormat, RosterJob
from identity.roster.service import RosterImports
from xinyu.identity.v1 import roster_pb2, roster_pb2_grpc
from xinyu_core.errors import InvalidArgument
from xinyu_core.grpc.server import current_principal

_FORMAT_IN = {
    roster_pb2.ROSTER_FORMAT_CSV: RosterFormat.CSV,
    roster_pb2.ROSTER_FORMAT_XLSX: RosterFormat.XLSX,
}
_FORMAT_OUT = {value: key for key, value in _FORMAT_IN.items()}
_STATUS_OUT = {
    JobStatus.RECEIVING: roster_pb2.ROSTER_IMPORT_STATUS_RECEIVING,
    JobStatus.VALIDATING: roster_pb2.ROSTER_IMPORT_STATUS_VALIDATING,
    JobStatus.APPLYING: roster_pb2.ROSTER_IMPORT_STATUS_APPLYING,
    JobStatus.SUCCEEDED: roster_pb2.ROSTER_IMPORT_STATUS_SUCCEEDED,
    JobStatus.FAILED: roster_pb2.ROSTER_IMPORT_STATUS_FAILED,
}


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def roster_import_message(job: RosterJob) -> roster_pb2.RosterImport:
    counts = job.counts
    return roster_pb2.RosterImport(
        job_id=str(job.job_id),
        scope_code=job.scope_code,
        format=_FORMAT_OUT[job.format],
        status=_STATUS_OUT[job.status],
        chunks_received=job.chunks_received,
        bytes_received=job.bytes_received,
        rows_total=counts.rows_total,
        rows_validated=counts.rows_validated,
        rows_applied=counts.rows_applied,
        rows_created=counts.rows_created,
        rows_updated=counts.rows_updated,
        rows_unchanged=counts.rows_unchanged,
        progress_percent=job.progress_percent,
        errors=[
            roster_pb2.RosterRowError(row=error.row, field=error.field, message=error.message)
            for error in job.errors
        ],
        error_count=job.error_count,
        failure=job.failure,
        created_at=_timestamp(job.created_at),
        finished_at=_timestamp(job.finished_at),
    )


class RosterServicer(roster_pb2_grpc.RosterServiceServicer):
    def __init__(self, imports: RosterImports) -> None:
        self._imports = imports

    async def StartRosterImport(
        self, request: roster_pb2.StartRosterImportRequest, context: grpc.aio.ServicerContext
    ) -> roster_pb2.StartRosterImportResponse:
        fmt = _FORMAT_IN.get(request.format)
        if fmt is None:
            raise InvalidArgument("format", "must be CSV or XLSX")
        job = await self._imports.start(current_principal(), fmt, request.scope_code)
        return roster_pb2.StartRosterImportResponse(roster_import=roster_import_message(job))

    async def AppendRosterChunk(
        self, request: roster_pb2.AppendRosterChunkRequest, context: grpc.aio.ServicerContext
    ) -> roster_pb2.AppendRosterChunkResponse:
        duplicate, received = await self._imports.append(
            current_principal(), request.job_id, request.sequence, request.data
        )
        return roster_pb2.AppendRosterChunkResponse(
            sequence=request.sequence, duplicate=duplicate, bytes_received=received
        )

    async def CommitRosterImport(
        self, request: roster_pb2.CommitRosterImportRequest, context: grpc.aio.ServicerContext
    ) -> roster_pb2.CommitRosterImportResponse:
        job = await self._imports.commit(current_principal(), request.job_id, request.chunk_count)
        return roster_pb2.CommitRosterImportResponse(roster_import=roster_import_message(job))

    async def GetRosterImport(
        self, request: roster_pb2.GetRosterImportRequest, context: grpc.aio.ServicerContext
    ) -> roster_pb2.GetRosterImportResponse:
        job = await self._imports.get(current_principal(), request.job_id, request.max_errors)
        return roster_pb2.GetRosterImportResponse(roster_import=roster_import_message(job))
