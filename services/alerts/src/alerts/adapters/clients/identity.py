"""identity, asked as alerts' own service client (no person behind these calls): MatchStudent
for partner reports (R12) and ListResponders at the moment of routing (R6), one at a time or a
batch per call (BatchMatchStudents, BatchListResponders: a backlog of partner reports costs a
call per batch, not two per report)."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar
from uuid import UUID

import grpc

from alerts.domain.model import Level, Match, MatchOutcome, Responder, Responders, StudentPlace
from alerts.domain.ports import MatchRequest
from xinyu.identity.v1 import identity_pb2 as pb
from xinyu.identity.v1 import identity_pb2_grpc
from xinyu_core.auth import ServiceTokenSource
from xinyu_core.errors import Unavailable
from xinyu_core.grpc.client import bearer_metadata
from xinyu_core.messaging import TransientError

_OUTCOMES = {
    pb.MATCH_OUTCOME_EXACT: MatchOutcome.EXACT,
    pb.MATCH_OUTCOME_NONE: MatchOutcome.NONE,
    pb.MATCH_OUTCOME_UNCERTAIN: MatchOutcome.UNCERTAIN,
    pb.MATCH_OUTCOME_INVALID: MatchOutcome.INVALID,
}
_LEVELS = {
    pb.RESPONDER_LEVEL_CLASS: Level.CLASS,
    pb.RESPONDER_LEVEL_GRADE: Level.GRADE,
    pb.RESPONDER_LEVEL_SCHOOL: Level.SCHOOL,
    pb.RESPONDER_LEVEL_FAMILY: Level.FAMILY,
    pb.RESPONDER_LEVEL_COUNTY: Level.COUNTY,
}
# Statuses that say "not now": the consumer retries the record instead of deciding on it.
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.ABORTED,
    }
)
T = TypeVar("T")
# identity's limit per batch call.
BATCH_LIMIT = 500


class IdentityUnavailable(TransientError, Unavailable):
    """identity or Keycloak cannot answer now: a consumer retries the record, an RPC answers
    UNAVAILABLE."""


class IdentityClient:
    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokenSource) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._tokens = tokens

    async def _metadata(self) -> tuple[tuple[str, str], ...]:
        try:
            return bearer_metadata(await self._tokens.token())
        except Exception as error:  # Keycloak down or refusing: try again later
            raise IdentityUnavailable("no service token") from error

    async def match(self, student_number: str, resident_id: str, full_name: str) -> Match:
        try:
            answer = await self._stub.MatchStudent(
                pb.MatchStudentRequest(
                    student_number=student_number, resident_id=resident_id, full_name=full_name
                ),
                metadata=await self._metadata(),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _TRANSIENT:
                raise IdentityUnavailable(f"identity MatchStudent: {error.code().name}") from error
            if error.code() is grpc.StatusCode.INVALID_ARGUMENT:
                return Match(MatchOutcome.INVALID, reason="no usable identifier")
            raise
        return _match(answer)

    async def match_many(self, wanted: Sequence[MatchRequest]) -> list[Match]:
        found: list[Match] = []
        for start in range(0, len(wanted), BATCH_LIMIT):
            chunk = wanted[start : start + BATCH_LIMIT]
            request = pb.BatchMatchStudentsRequest(
                requests=[
                    pb.MatchStudentRequest(
                        student_number=w.student_number,
                        resident_id=w.resident_id,
                        full_name=w.full_name,
                    )
                    for w in chunk
                ]
            )
            answer = await _transient_as_unavailable(
                "BatchMatchStudents",
                self._stub.BatchMatchStudents(request, metadata=await self._metadata()),
            )
            if len(answer.matches) != len(chunk):
                raise IdentityUnavailable("identity BatchMatchStudents: answers do not line up")
            found.extend(_match(match) for match in answer.matches)
        return found

    async def responders_many(self, student_ids: Sequence[UUID]) -> dict[UUID, Responders | None]:
        found: dict[UUID, Responders | None] = {}
        for start in range(0, len(student_ids), BATCH_LIMIT):
            chunk = student_ids[start : start + BATCH_LIMIT]
            answer = await _transient_as_unavailable(
                "BatchListResponders",
                self._stub.BatchListResponders(
                    pb.BatchListRespondersRequest(student_ids=[str(s) for s in chunk]),
                    metadata=await self._metadata(),
                ),
            )
            if len(answer.students) != len(chunk):
                raise IdentityUnavailable("identity BatchListResponders: answers do not line up")
            for student_id, entry in zip(chunk, answer.students, strict=True):
                found[student_id] = (
                    _responders(student_id, entry.responders) if entry.found else None
                )
        return found

    async def responders(self, student_id: UUID) -> Responders | None:
        try:
            answer = await self._stub.ListResponders(
                pb.ListRespondersRequest(student_id=str(student_id)),
                metadata=await self._metadata(),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                return None
            if error.code() in _TRANSIENT:
                raise IdentityUnavailable(
                    f"identity ListResponders: {error.code().name}"
                ) from error
            raise
        return _responders(student_id, answer)


async def _transient_as_unavailable(method: str, call: Awaitable[T]) -> T:
    """identity's answer; a status that says "not now" becomes IdentityUnavailable (retried)."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() in _TRANSIENT:
            raise IdentityUnavailable(f"identity {method}: {error.code().name}") from error
        raise


def _match(answer: pb.MatchStudentResponse) -> Match:
    outcome = _OUTCOMES.get(answer.outcome, MatchOutcome.UNCERTAIN)
    if outcome is MatchOutcome.EXACT:
        return Match(
            outcome,
            StudentPlace(
                UUID(answer.student_id),
                answer.school_code,
                answer.county_code,
                answer.class_code,
            ),
        )
    return Match(outcome, reason=answer.reason)


def _responders(student_id: UUID, answer: pb.ListRespondersResponse) -> Responders:
    return Responders(
        student=StudentPlace(
            UUID(answer.student_id) if answer.student_id else student_id,
            answer.school_code,
            answer.county_code,
            answer.class_code,
        ),
        people=tuple(
            Responder(
                username=person.username,
                person_id=person.person_id,
                level=_LEVELS[person.level],
                role=person.role,
            )
            for person in answer.responders
            if person.level in _LEVELS and person.username
        ),
    )
