"""Roster uploads (identity's RosterService). The gateway passes the uploaded file on in 4 MiB
chunks as it reads it, so neither side needs the whole file in memory; identity validates and
applies it in the background, and ``GET /v1/rosters/{job_id}`` reports on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from pydantic import BaseModel

from gateway.access import allow
from gateway.backend import call, forwarded
from gateway.runtime import Runtime, runtime
from xinyu.identity.v1 import roster_pb2 as pb
from xinyu_core.auth import Principal

router = APIRouter(prefix="/v1/rosters", tags=["rosters"])

IMPORTERS = ("school_admin", "county_admin", "city_admin")
CHUNK_BYTES = 4 * 1024 * 1024
_FORMATS: dict[str, pb.RosterFormat.ValueType] = {
    "csv": pb.ROSTER_FORMAT_CSV,
    "xlsx": pb.ROSTER_FORMAT_XLSX,
}
StatusName = Literal["receiving", "validating", "applying", "succeeded", "failed", "unknown"]
_STATUS: dict[pb.RosterImportStatus.ValueType, StatusName] = {
    pb.ROSTER_IMPORT_STATUS_RECEIVING: "receiving",
    pb.ROSTER_IMPORT_STATUS_VALIDATING: "validating",
    pb.ROSTER_IMPORT_STATUS_APPLYING: "applying",
    pb.ROSTER_IMPORT_STATUS_SUCCEEDED: "succeeded",
    pb.ROSTER_IMPORT_STATUS_FAILED: "failed",
}


class RowErrorView(BaseModel):
    row: int
    field: str
    message: str


class RosterImportView(BaseModel):
    job_id: str
    scope_code: str
    format: Literal["csv", "xlsx"]
    status: StatusName
    progress_percent: int
    bytes_received: int
    rows_total: int
    rows_validated: int
    rows_applied: int
    rows_created: int
    rows_updated: int
    rows_unchanged: int
    error_count: int
    errors: list[RowErrorView]
    failure: str
    created_at: datetime | None
    finished_at: datetime | None


def _view(job: pb.RosterImport) -> RosterImportView:
    return RosterImportView(
        job_id=job.job_id,
        scope_code=job.scope_code,
        format="xlsx" if job.format == pb.ROSTER_FORMAT_XLSX else "csv",
        status=_STATUS.get(job.status, "unknown"),
        progress_percent=job.progress_percent,
        bytes_received=job.bytes_received,
        rows_total=job.rows_total,
        rows_validated=job.rows_validated,
        rows_applied=job.rows_applied,
        rows_created=job.rows_created,
        rows_updated=job.rows_updated,
        rows_unchanged=job.rows_unchanged,
        error_count=job.error_count,
        errors=[RowErrorView(row=e.row, field=e.field, message=e.message) for e in job.errors],
        failure=job.failure,
        created_at=job.created_at.ToDatetime(tzinfo=UTC) if job.HasField("created_at") else None,
        finished_at=(
            job.finished_at.ToDatetime(tzinfo=UTC) if job.HasField("finished_at") else None
        ),
    )


def _format_of(upload: UploadFile, declared: str) -> pb.RosterFormat.ValueType:
    name = declared or (upload.filename or "").rsplit(".", 1)[-1].lower()
    found = _FORMATS.get(name)
    if found is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["body", "format"], "msg": "upload a .csv or .xlsx file"}],
        )
    return found


@router.post("", response_model=RosterImportView, status_code=status.HTTP_202_ACCEPTED)
async def upload_roster(
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="the registry's CSV or XLSX export")],
    principal: Annotated[Principal, Depends(allow(*IMPORTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    scope_code: Annotated[str, Form(description="school, county or city code")] = "",
    format: Annotated[str, Form(description="csv or xlsx; default from the name")] = "",
) -> RosterImportView:
    """Uploads a roster and starts its import; poll the returned job for the outcome."""
    metadata = forwarded(principal)
    started = await call(
        request,
        principal,
        rt.rosters.StartRosterImport(
            pb.StartRosterImportRequest(
                format=_format_of(file, format.lower()), scope_code=scope_code
            ),
            metadata=metadata,
        ),
    )
    job_id = started.roster_import.job_id
    sequence = 0
    while piece := await file.read(CHUNK_BYTES):
        await call(
            request,
            principal,
            rt.rosters.AppendRosterChunk(
                pb.AppendRosterChunkRequest(job_id=job_id, sequence=sequence, data=piece),
                metadata=metadata,
            ),
        )
        sequence += 1
    committed = await call(
        request,
        principal,
        rt.rosters.CommitRosterImport(
            pb.CommitRosterImportRequest(job_id=job_id, chunk_count=sequence),
            metadata=metadata,
        ),
    )
    response.headers["Location"] = f"/v1/rosters/{job_id}"
    return _view(committed.roster_import)


@router.get("/{job_id}", response_model=RosterImportView)
async def get_roster_import(
    job_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(allow(*IMPORTERS))],
    rt: Annotated[Runtime, Depends(runtime)],
    max_errors: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RosterImportView:
    reply = await call(
        request,
        principal,
        rt.rosters.GetRosterImport(
            pb.GetRosterImportRequest(job_id=job_id, max_errors=max_errors),
            metadata=forwarded(principal),
        ),
    )
    return _view(reply.roster_import)
