"""Who may read the audit log, how pages work, and that a listing is itself recorded."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.chain import HASH_MISMATCH, ChainedEntry
from identity.audit.servicer import (
    decode_page_token,
    encode_page_token,
    filter_of,
    record_message,
)
from identity.audit.store import AuditFilter
from identity.audit.trail import MAX_PAGE_SIZE, AuditTrail, page_limit
from xinyu.audit.v1 import audit_pb2
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument, PermissionDenied
from xinyu_core.testing import principal

from .entries import STUDENT, SUBJECT, build_chain


@dataclass
class Transaction:
    open: bool = True


class Sessions:
    def __init__(self) -> None:
        self.transactions: list[Transaction] = []

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._begin()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncSession]:
        transaction = Transaction()
        self.transactions.append(transaction)
        yield cast(AsyncSession, transaction)
        transaction.open = False


@dataclass
class InMemoryLog:
    records: list[ChainedEntry]

    async def page(
        self, session: AsyncSession, wanted: AuditFilter, *, before_seq: int | None, limit: int
    ) -> list[ChainedEntry]:
        newest_first = sorted(self.records, key=lambda r: -r.entry.seq)
        below = [r for r in newest_first if before_seq is None or r.entry.seq < before_seq]
        return below[:limit]

    async def walk(
        self, session: AsyncSession, *, after_seq: int, limit: int
    ) -> list[ChainedEntry]:
        return [r for r in self.records if r.entry.seq > after_seq][:limit]


@dataclass
class Recorder:
    reads: list[tuple[bool, str, str, str]] = field(default_factory=list)

    async def denied(
        self, principal: Principal, action: str, resource_type: str, resource_id: str, reason: str
    ) -> None:
        raise AssertionError("the guard records denials, not the use case")

    async def sensitive_read(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
    ) -> None:
        # Records whether the read's transaction was still open: the same transaction.
        self.reads.append((cast(Transaction, session).open, action, resource_type, resource_id))


def trail(records: list[ChainedEntry], recorder: Recorder | None = None) -> AuditTrail:
    return AuditTrail(Sessions(), InMemoryLog(records), recorder or Recorder(), verify_batch=2)


AUDITOR = principal("auditor", org_unit="360700")


@pytest.mark.parametrize("roles", [("head_teacher",), ("county_admin",), ("service",), ()])
async def test_only_auditors_and_city_admins_may_read_or_verify(roles: tuple[str, ...]) -> None:
    caller = principal(*roles)
    with pytest.raises(PermissionDenied):
        await trail([]).list_records(caller, AuditFilter(), page_size=10, before_seq=None)
    with pytest.raises(PermissionDenied):
        await trail([]).verify_chain(caller)


async def test_pages_run_newest_first_and_end_without_a_cursor() -> None:
    audit = trail(build_chain(5))
    first = await audit.list_records(AUDITOR, AuditFilter(), page_size=2, before_seq=None)
    assert [r.entry.seq for r in first.records] == [5, 4]
    assert first.next_before_seq == 4
    second = await audit.list_records(
        principal("city_admin"), AuditFilter(), page_size=2, before_seq=4
    )
    assert [r.entry.seq for r in second.records] == [3, 2]
    last = await audit.list_records(AUDITOR, AuditFilter(), page_size=2, before_seq=2)
    assert [r.entry.seq for r in last.records] == [1]
    assert last.next_before_seq is None


async def test_a_listing_is_recorded_as_a_read_inside_its_own_transaction() -> None:
    recorder = Recorder()
    await trail(build_chain(1), recorder).list_records(
        AUDITOR, AuditFilter(resource_id=STUDENT), page_size=5, before_seq=None
    )
    assert recorder.reads == [
        (True, "/xinyu.audit.v1.AuditService/ListAuditRecords", "audit-log", STUDENT)
    ]


async def test_verification_walks_in_batches_and_reports_the_first_break() -> None:
    records = build_chain(5)
    assert (await trail(records).verify_chain(AUDITOR)).intact
    records[3] = replace(records[3], hash="0" * 64)
    report = await trail(records).verify_chain(AUDITOR)
    assert (report.intact, report.first_broken_seq, report.problem) == (False, 4, HASH_MISMATCH)


def test_page_sizes_default_and_are_capped() -> None:
    assert page_limit(0) == 50
    assert page_limit(7) == 7
    assert page_limit(10_000) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        page_limit(-1)


def test_page_tokens_round_trip_and_forgeries_are_refused() -> None:
    assert decode_page_token(encode_page_token(42)) == 42
    assert encode_page_token(None) == "" and decode_page_token("") is None  # noqa: PT018
    for forged in ("42", "!!!", base64.urlsafe_b64encode(b"before:-1").decode()):
        with pytest.raises(InvalidArgument):
            decode_page_token(forged)


def test_filters_are_checked() -> None:
    wanted = filter_of(
        audit_pb2.ListAuditRecordsRequest(
            actor_subject=str(SUBJECT), resource_id=STUDENT, outcome=audit_pb2.OUTCOME_DENIED
        )
    )
    assert wanted == AuditFilter(actor_subject=SUBJECT, resource_id=STUDENT, outcome="DENIED")
    assert filter_of(audit_pb2.ListAuditRecordsRequest()) == AuditFilter()
    for bad in (
        audit_pb2.ListAuditRecordsRequest(actor_subject="wang.xiaoming"),
        audit_pb2.ListAuditRecordsRequest(resource_id="36070220150101123X"),
    ):
        with pytest.raises(InvalidArgument):
            filter_of(bad)


def test_time_filters_are_read_only_when_set() -> None:
    request = audit_pb2.ListAuditRecordsRequest()
    request.occurred_after.FromSeconds(1_770_000_000)
    wanted = filter_of(request)
    assert wanted.occurred_after is not None
    assert wanted.occurred_before is None


def test_a_record_message_carries_its_hashes() -> None:
    record = build_chain(1)[0]
    message = record_message(record)
    assert (message.seq, message.prev_hash, message.hash) == (1, "0" * 64, record.hash)
    assert message.outcome == audit_pb2.OUTCOME_DENIED
    assert message.occurred_at.ToDatetime().microsecond == 0
