"""The gateway's roster routes against a fake RosterService: the upload goes on in 4 MiB chunks
in order, then a commit naming how many were sent; the job comes back as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.routers import rosters
from xinyu.identity.v1 import roster_pb2 as pb
from xinyu_core.testing import principal

JOB = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"


class Verifier:
    async def verify(self, token: str) -> Any:
        return principal("school_admin", org_unit="3607020001")


@dataclass
class FakeRosters:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def _job(self, status: int) -> pb.RosterImport:
        return pb.RosterImport(
            job_id=JOB,
            scope_code="3607020001",
            format=pb.ROSTER_FORMAT_CSV,
            status=status,  # type: ignore[arg-type]
            errors=[pb.RosterRowError(row=4, field="birth_date", message="must be a date")],
            error_count=1,
        )

    async def StartRosterImport(self, request: Any, metadata: Any) -> Any:
        self.calls.append(("start", request))
        return pb.StartRosterImportResponse(roster_import=self._job(1))

    async def AppendRosterChunk(self, request: Any, metadata: Any) -> Any:
        self.calls.append(("append", (request.sequence, len(request.data))))
        return pb.AppendRosterChunkResponse(sequence=request.sequence)

    async def CommitRosterImport(self, request: Any, metadata: Any) -> Any:
        self.calls.append(("commit", request.chunk_count))
        return pb.CommitRosterImportResponse(roster_import=self._job(2))

    async def GetRosterImport(self, request: Any, metadata: Any) -> Any:
        self.calls.append(("get", request.max_errors))
        return pb.GetRosterImportResponse(roster_import=self._job(5))


@dataclass
class FakeRuntime:
    rosters: FakeRosters
    verifier: Verifier = field(default_factory=Verifier)


def client(fake: FakeRosters) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(rosters.router)
    app.state.runtime = FakeRuntime(fake)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"Authorization": "Bearer token"},
    )


async def test_an_upload_is_passed_on_in_chunks_then_committed() -> None:
    fake = FakeRosters()
    body = b"x" * (rosters.CHUNK_BYTES * 2 + 10)
    async with client(fake) as http:
        reply = await http.post(
            "/v1/rosters", files={"file": ("roster.csv", body)}, data={"scope_code": "3607020001"}
        )

    assert reply.status_code == 202
    assert reply.headers["location"] == f"/v1/rosters/{JOB}"
    assert reply.json()["status"] == "validating"
    start = fake.calls[0][1]
    assert (start.format, start.scope_code) == (pb.ROSTER_FORMAT_CSV, "3607020001")
    assert fake.calls[1:] == [
        ("append", (0, rosters.CHUNK_BYTES)),
        ("append", (1, rosters.CHUNK_BYTES)),
        ("append", (2, 10)),
        ("commit", 3),
    ]


async def test_an_unknown_file_type_is_refused_before_anything_is_sent() -> None:
    fake = FakeRosters()
    async with client(fake) as http:
        reply = await http.post("/v1/rosters", files={"file": ("roster.pdf", b"%PDF")})
    assert reply.status_code == 422
    assert fake.calls == []


async def test_the_job_report_lists_row_errors() -> None:
    fake = FakeRosters()
    async with client(fake) as http:
        reply = await http.get(f"/v1/rosters/{JOB}", params={"max_errors": 5})
    assert reply.status_code == 200
    report = reply.json()
    assert report["status"] == "failed"
    assert report["errors"] == [{"row": 4, "field": "birth_date", "message": "must be a date"}]
    assert fake.calls == [("get", 5)]
